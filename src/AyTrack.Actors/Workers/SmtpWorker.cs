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
}

/// <summary>
/// One SMTP session at a time: the pool of these behind a router is what <c>timing.threads</c> sizes. A worker
/// processes its batch to the end before it takes the next message, so when the pool shrinks and the router stops a
/// removed worker, the batch in hand is finished; batches queued behind the stop become dead letters and their
/// domain actor's reply timeout takes them back.
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
        });
    }

    public static Props Props(IDeliveryTransport transport) => Akka.Actor.Props.Create(() => new SmtpWorker(transport));
}
