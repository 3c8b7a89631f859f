using Akka.Actor;
using Akka.Event;
using Akka.Routing;
using AyTrack.Core.Delivery;

namespace AyTrack.Actors.Workers;

/// <summary>
/// The pool of SMTP workers: timing.threads sessions at most, each batch handed to a worker that is idle. It speaks
/// the router protocol — <see cref="AdjustPoolSize"/> to resize by a difference, <see cref="GetRoutees"/> for the live
/// count — plus <see cref="WorkerCommands.SetPoolSize"/>, the absolute resize the settings agent uses, but dispatches by pulling, not by routing: Akka.NET's routers judge
/// a worker by its mailbox, and a worker in the middle of a session has an empty one, so SmallestMailbox kept
/// queueing batches behind busy workers while others sat idle (and Akka.NET has no BalancingPool). When the pool
/// shrinks, idle workers stop at once and busy ones after the batch in hand; nothing queued is lost.
/// </summary>
public sealed class SmtpWorkerPool : ReceiveActor
{
    private readonly Props _workerProps;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Stack<IActorRef> _idle = new();
    private readonly HashSet<IActorRef> _busy = [];
    private readonly HashSet<IActorRef> _retiring = [];
    private readonly Queue<(WorkerCommands.DeliverBatch Batch, IActorRef ReplyTo)> _pending = new();
    private readonly AyTrack.Core.Metrics.AyTrackMetrics? _metrics;
    private int _next;

    public SmtpWorkerPool(int size, Props workerProps, AyTrack.Core.Metrics.AyTrackMetrics? metrics = null)
    {
        _workerProps = workerProps;
        _metrics = metrics;
        Grow(size);
        Report();

        Receive<WorkerCommands.DeliverBatch>(batch =>
        {
            _pending.Enqueue((batch, Sender));
            Dispatch();
        });
        Receive<WorkerCommands.WorkDone>(_ =>
        {
            _busy.Remove(Sender);
            if (_retiring.Remove(Sender))
            {
                Context.Stop(Sender);
            }
            else
            {
                _idle.Push(Sender);
            }

            Dispatch();
        });
        Receive<WorkerCommands.SetPoolSize>(set =>
        {
            var change = Math.Max(1, set.Size) - Size;
            if (change > 0)
            {
                Grow(change);
                Dispatch();
            }
            else if (change < 0)
            {
                Shrink(-change);
            }
        });
        Receive<AdjustPoolSize>(adjust =>
        {
            if (adjust.Change > 0)
            {
                Grow(adjust.Change);
                Dispatch();
            }
            else
            {
                Shrink(-adjust.Change);
            }
        });
        Receive<GetRoutees>(_ => Sender.Tell(new Routees(_idle.Concat(_busy.Except(_retiring)).Select(w => (Routee)new ActorRefRoutee(w)).ToList())));
        Receive<Terminated>(t =>
        {
            // A worker that crashed for good is replaced, so the pool keeps its size.
            var wasCounted = _busy.Remove(t.ActorRef) | _idle.Contains(t.ActorRef);
            if (_retiring.Remove(t.ActorRef) || !wasCounted)
            {
                return;
            }

            var idle = _idle.Where(w => !w.Equals(t.ActorRef)).Reverse().ToList();
            _idle.Clear();
            idle.ForEach(_idle.Push);
            _log.Warning("SMTP worker {0} stopped unexpectedly; starting a replacement", t.ActorRef.Path.Name);
            Grow(1);
            Dispatch();
        });
    }

    public int Size => _idle.Count + _busy.Count - _retiring.Count;

    public static Props Props(int size, IDeliveryTransport transport, AyTrack.Core.Metrics.AyTrackMetrics? metrics = null) =>
        Akka.Actor.Props.Create(() => new SmtpWorkerPool(size, SmtpWorker.Props(transport), metrics));

    /// <summary>After every message: the pool's size and busy workers as the metrics show them.</summary>
    protected override bool AroundReceive(Receive receive, object message)
    {
        var handled = base.AroundReceive(receive, message);
        Report();
        return handled;
    }

    private void Report() => _metrics?.Pool(Size, _busy.Count);

    private void Dispatch()
    {
        while (_idle.Count > 0 && _pending.Count > 0)
        {
            var worker = _idle.Pop();
            var (batch, replyTo) = _pending.Dequeue();
            _busy.Add(worker);
            worker.Tell(batch, replyTo);
        }
    }

    private void Grow(int count)
    {
        for (var i = 0; i < count; i++)
        {
            var worker = Context.ActorOf(_workerProps, $"w{++_next}");
            Context.Watch(worker);
            _idle.Push(worker);
        }
    }

    private void Shrink(int count)
    {
        // Never below one worker: a pool of none would strand every batch.
        count = Math.Min(count, Size - 1);
        while (count > 0 && _idle.Count > 0)
        {
            var worker = _idle.Pop();
            Context.Unwatch(worker);
            Context.Stop(worker);
            count--;
        }

        foreach (var worker in _busy.Except(_retiring).Take(count).ToList())
        {
            _retiring.Add(worker);
        }
    }
}
