using Akka.Actor;
using Akka.Cluster.Sharding;
using Akka.Event;
using Akka.Persistence;
using AyTrack.Actors.Workers;
using AyTrack.Core.Addresses;
using AyTrack.Core.Delivery;
using AyTrack.Core.Domains;
using AyTrack.Smtp.Spool;

namespace AyTrack.Actors.Domains;

/// <summary>Limits the domain actor works within; from AyTrack:Delivery.</summary>
public sealed record DomainActorSettings(int MaxConnections, int BatchSize, TimeSpan BatchReplyTimeout, int SnapshotEvery = 200);

/// <summary>
/// Owns one recipient domain's queue: a Cluster Sharding entity whose state is persisted (Akka.Persistence.Sql).
/// It accepts recipients from the outbox (idempotently), hands batches to the SMTP worker pool — at most
/// <see cref="DomainActorSettings.MaxConnections"/> sessions at once for this destination, whatever the pool size —
/// and persists every result before it tells the spool which recipients are final.
/// </summary>
public sealed class DomainDeliveryActor : ReceivePersistentActor
{
    private static readonly TimeSpan IdleBeforePassivation = TimeSpan.FromMinutes(2);

    private readonly RecipientDomain _domain;
    private readonly IActorRef _workers;
    private readonly ISpool _spool;
    private readonly DomainActorSettings _settings;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Dictionary<Guid, IReadOnlyList<BatchItem>> _inFlight = [];
    private DomainQueueState _state = DomainQueueState.Empty;
    private string? _lastError;
    private int _eventsSinceSnapshot;

    public DomainDeliveryActor(string domain, IActorRef workers, ISpool spool, DomainActorSettings settings)
    {
        _domain = new RecipientDomain(domain);
        _workers = workers;
        _spool = spool;
        _settings = settings;
        PersistenceId = $"domain-{_domain.Value}";

        Recover<SnapshotOffer>(offer => _state = ((DomainQueueSnapshot)offer.Snapshot).ToState());
        Recover<IDomainEvent>(e => _state = _state.Apply(e));

        Command<DomainCommands.Enqueue>(Handle);
        Command<WorkerCommands.BatchDelivered>(Handle);
        Command<BatchFailed>(Handle);
        Command<DomainQueries.GetQueue>(_ => Sender.Tell(Status()));
        Command<SaveSnapshotSuccess>(s =>
        {
            // The snapshot holds everything: older events and snapshots only slow recovery down.
            DeleteMessages(s.Metadata.SequenceNr);
            DeleteSnapshots(new SnapshotSelectionCriteria(s.Metadata.SequenceNr - 1));
        });
        Command<SaveSnapshotFailure>(f => _log.Warning("Snapshot of {0} failed: {1}", _domain, f.Cause.Message));
        Command<DeleteMessagesSuccess>(_ => { });
        Command<DeleteMessagesFailure>(f => _log.Warning("Deleting old events of {0} failed: {1}", _domain, f.Cause.Message));
        Command<DeleteSnapshotsSuccess>(_ => { });
        Command<DeleteSnapshotsFailure>(f => _log.Warning("Deleting old snapshots of {0} failed: {1}", _domain, f.Cause.Message));
        Command<ReceiveTimeout>(_ => PassivateIfIdle());
    }

    public override string PersistenceId { get; }

    public static Props Props(string domain, IActorRef workers, ISpool spool, DomainActorSettings settings) =>
        Akka.Actor.Props.Create(() => new DomainDeliveryActor(domain, workers, spool, settings));

    protected override void OnReplaySuccess()
    {
        // Recipients that were pending when the node stopped are sent again: delivery is at-least-once.
        Dispatch();
    }

    private void Handle(DomainCommands.Enqueue command)
    {
        var @event = _state.Process(command);
        if (@event is null)
        {
            Sender.Tell(new DomainCommands.Enqueued(_domain, command.Id));
            return;
        }

        Persist(@event, e =>
        {
            Apply(e);
            // Acknowledge only now that the event is in the journal: the outbox marks the recipients dispatched on this.
            Sender.Tell(new DomainCommands.Enqueued(_domain, command.Id));
            Dispatch();
        });
    }

    private void Handle(WorkerCommands.BatchDelivered delivered)
    {
        if (!_inFlight.Remove(delivered.BatchId))
        {
            return;
        }

        var now = DateTimeOffset.UtcNow;
        var events = delivered.Attempts.Select(a => new DomainEvents.AttemptCompleted(a.Id, a.Results, now)).ToList();
        RecordAttempts(events);
    }

    private void Handle(BatchFailed failed)
    {
        if (!_inFlight.Remove(failed.BatchId, out var items))
        {
            return;
        }

        _log.Warning("No result for a batch of {0} message(s) to {1}: {2}", items.Count, _domain, failed.Reason);
        var reply = new SmtpReply(451, "4.4.7", $"No result from the SMTP worker: {failed.Reason}");
        var now = DateTimeOffset.UtcNow;
        RecordAttempts(items.Select(i => new DomainEvents.AttemptCompleted(i.Id,
            i.Recipients.Select(r => new RecipientAttempt(r, RecipientOutcome.Deferred, reply)).ToList(), now)).ToList());
    }

    private void RecordAttempts(IReadOnlyList<DomainEvents.AttemptCompleted> events)
    {
        if (events.Count == 0)
        {
            Dispatch();
            return;
        }

        PersistAll(events, e =>
        {
            Apply(e);
            var final = e.Results.Where(r => r.Outcome != RecipientOutcome.Deferred).Select(r => r.Recipient).ToList();
            foreach (var failed in e.Results.Where(r => r.Outcome != RecipientOutcome.Delivered))
            {
                _lastError = failed.Reply.ToString();
            }

            if (final.Count > 0)
            {
                MarkFinalInSpool(e.Id, final);
            }
        });
        DeferAsync(events[^1], _ => Dispatch());
    }

    private void Apply(IDomainEvent e)
    {
        _state = _state.Apply(e);
        if (++_eventsSinceSnapshot >= _settings.SnapshotEvery)
        {
            _eventsSinceSnapshot = 0;
            SaveSnapshot(DomainQueueSnapshot.From(_state));
        }
    }

    /// <summary>Starts sessions for pending recipients up to the per-destination connection cap.</summary>
    private void Dispatch()
    {
        while (_inFlight.Count < _settings.MaxConnections)
        {
            var busy = _inFlight.Values.SelectMany(items => items.Select(i => i.Id.Value)).ToHashSet(StringComparer.Ordinal);
            var batch = _state.NextBatch(_settings.BatchSize, busy);
            if (batch.Count == 0)
            {
                break;
            }

            var id = Guid.NewGuid();
            _inFlight[id] = batch;
            _workers.Ask<WorkerCommands.BatchDelivered>(new WorkerCommands.DeliverBatch(id, _domain, batch), _settings.BatchReplyTimeout)
                .PipeTo(Self, success: r => r, failure: error => new BatchFailed(id, error.Message));
        }

        SetReceiveTimeout(_state.Messages.IsEmpty && _inFlight.Count == 0 ? IdleBeforePassivation : null);
    }

    private void PassivateIfIdle()
    {
        if (_state.Messages.IsEmpty && _inFlight.Count == 0)
        {
            // Sharding's own idle passivation is off: it cannot see sessions in flight, whose replies come to Self.
            Context.Parent.Tell(new Passivate(PoisonPill.Instance));
        }
    }

    private void MarkFinalInSpool(QueueId id, IReadOnlyCollection<string> recipients)
    {
        var log = _log;
        var domain = _domain;
        _spool.MarkFinalAsync(id, recipients, CancellationToken.None).ContinueWith(
            t => log.Warning("Could not mark {0} recipient(s) of {1} at {2} final in the spool: {3}",
                recipients.Count, id, domain, t.Exception?.GetBaseException().Message),
            TaskContinuationOptions.OnlyOnFaulted);
    }

    private DomainQueries.QueueStatus Status()
    {
        var recipients = _state.Messages.Values.SelectMany(m => m.Recipients.Values).ToList();
        return new DomainQueries.QueueStatus(
            _domain,
            recipients.Count(r => r.State == RecipientState.Pending),
            recipients.Count(r => r.State == RecipientState.Deferred),
            _inFlight.Count,
            _state.Messages.IsEmpty ? null : _state.Messages.Values.Min(m => m.ArrivedAt),
            _lastError);
    }

    private sealed record BatchFailed(Guid BatchId, string Reason);
}
