using Akka.Actor;
using Akka.Event;
using AyTrack.Core.Addresses;
using AyTrack.Core.Delivery;

namespace AyTrack.Actors.Workers;

public static class WorkerCommands
{
    /// <summary>Deliver these messages of one domain in one session. Replied to with <see cref="BatchDelivered"/>.</summary>
    /// <param name="Lease">The site's slot for this session (null: no site shaping); released by the worker when the session ends.</param>
    public sealed record DeliverBatch(Guid BatchId, RecipientDomain Domain, IReadOnlyList<BatchItem> Items, AyTrack.Core.Shaping.SiteLease? Lease = null);

    public sealed record BatchDelivered(Guid BatchId, IReadOnlyList<MessageAttempt> Attempts);

    /// <summary>
    /// Resize the pool to exactly this many workers. Absolute, so that two resizes that overlap (a settings change and
    /// a per-node override) end at the last one asked for, never at their sum.
    /// </summary>
    public sealed record SetPoolSize(int Size);

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
    // Owned by the worker and cancelled when it stops (the node's shutdown, after the listener's grace): a session in
    // flight ends then instead of outliving the actor system; its batch is taken back and retried (at-least-once).
    private readonly CancellationTokenSource _stopping = new();

    public SmtpWorker(IDeliveryTransport transport)
    {
        var log = Context.GetLogger();
        // The session runs beside the actor, not in it: inside ReceiveAsync every await of the session (spool reads,
        // each SMTP reply) came back through this actor's mailbox as a system message. The pool hands a worker its
        // next batch only after WorkDone, so one session at a time still holds without the mailbox enforcing it. Its
        // outcome still comes back as messages: the result (or the failure) to the domain actor, WorkDone to the pool.
        Receive<WorkerCommands.DeliverBatch>(batch => _ = DeliverAsync(transport, batch, Self, Sender, Context.Parent, log, _stopping.Token));
    }

    protected override void PostStop()
    {
        _stopping.Cancel();
        _stopping.Dispose();
    }

    private static async Task DeliverAsync(IDeliveryTransport transport, WorkerCommands.DeliverBatch batch, IActorRef self,
        IActorRef replyTo, IActorRef pool, ILoggingAdapter log, CancellationToken stopping)
    {
        try
        {
            var attempts = await transport.DeliverAsync(batch.Domain, batch.Items, batch.Lease, stopping).ConfigureAwait(false);
            replyTo.Tell(new WorkerCommands.BatchDelivered(batch.BatchId, attempts), self);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            log.Info("A session for {0} was cut short: the node is stopping; its batch is retried", batch.Domain);
            replyTo.Tell(new Status.Failure(new OperationCanceledException("the node is stopping")), self);
        }
        catch (Exception error)
        {
            log.Error(error, "Delivery of a batch for {0} failed", batch.Domain);
            replyTo.Tell(new Status.Failure(error), self);
        }
        finally
        {
            // The session is over (or parked in the lease for the next batch of its site): its slot is free for others.
            batch.Lease?.Release();
            // The pool knows its workers by sender.
            pool.Tell(WorkerCommands.WorkDone.Instance, self);
        }
    }

    public static Props Props(IDeliveryTransport transport) => Akka.Actor.Props.Create(() => new SmtpWorker(transport));
}
