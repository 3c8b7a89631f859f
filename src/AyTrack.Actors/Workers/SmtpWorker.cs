using Akka.Actor;
using Akka.Event;
using AyTrack.Core.Addresses;
using AyTrack.Core.Delivery;
using AyTrack.Smtp.Delivery;

namespace AyTrack.Actors.Workers;

public static class WorkerCommands
{
    /// <summary>Deliver these messages of one domain in one session. Replied to with <see cref="BatchDelivered"/>.</summary>
    public sealed record DeliverBatch(Guid BatchId, RecipientDomain Domain, IReadOnlyList<BatchItem> Items);

    public sealed record BatchDelivered(Guid BatchId, IReadOnlyList<MessageAttempt> Attempts);

    /// <summary>A worker tells its pool it is free for the next batch.</summary>
    public sealed record WorkDone
    {
        public static WorkDone Instance { get; } = new();
    }
}

/// <summary>
/// One SMTP session at a time: <see cref="SmtpWorkerPool"/> holds timing.threads of these and gives each a batch
/// only when it is free; the worker says so when its batch is done.
/// </summary>
public sealed class SmtpWorker : ReceiveActor
{
    public SmtpWorker(IDeliveryTransport transport)
    {
        var log = Context.GetLogger();
        ReceiveAsync<WorkerCommands.DeliverBatch>(async batch =>
        {
            var replyTo = Sender;
            try
            {
                var attempts = await transport.DeliverAsync(batch.Domain, batch.Items, CancellationToken.None);
                replyTo.Tell(new WorkerCommands.BatchDelivered(batch.BatchId, attempts));
            }
            catch (Exception error)
            {
                log.Error(error, "Delivery of a batch for {0} failed", batch.Domain);
                replyTo.Tell(new Status.Failure(error));
            }
            finally
            {
                Context.Parent.Tell(WorkerCommands.WorkDone.Instance);
            }
        });
    }

    public static Props Props(IDeliveryTransport transport) => Akka.Actor.Props.Create(() => new SmtpWorker(transport));
}
