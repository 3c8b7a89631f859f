using Akka.Actor;
using Akka.Cluster.Sharding;
using Akka.Event;
using Akka.Persistence;
using AyTrack.Actors.Bounces;
using AyTrack.Actors.Workers;
using AyTrack.Core.Addresses;
using AyTrack.Core.Delivery;
using AyTrack.Core.Domains;
using AyTrack.Core.Settings;
using AyTrack.Core.Spool;

namespace AyTrack.Actors.Domains;

/// <summary>
/// Owns one recipient domain's queue: a Cluster Sharding entity whose state is persisted (the node's journal, AyTrackJournal).
/// It accepts recipients from the outbox (idempotently), hands batches to the SMTP worker pool — at most
/// <see cref="DomainActorSettings.MaxConnections"/> sessions at once for this destination, whatever the pool size —
/// persists every result, retries deferred recipients on a timer (RFC 5321 §4.5.4.1), expires them after
/// timing.retryDays, and has a DSN queued for every recipient that failed for good before it forgets it.
/// </summary>
public sealed class DomainDeliveryActor : ReceivePersistentActor, IWithTimers
{
    private static readonly TimeSpan IdleBeforePassivation = TimeSpan.FromMinutes(2);
    private static readonly TimeSpan BounceRetry = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan BounceReplyTimeout = TimeSpan.FromSeconds(60);
    // The safety net's look at a queue whose due mail waits for a session slot (the slot's release wakes it first).
    private static readonly TimeSpan DueButBusyRecheck = TimeSpan.FromSeconds(5);

    private readonly RecipientDomain _domain;
    private readonly IActorRef _workers;
    private readonly IActorRef _bouncer;
    private readonly ISpool _spool;
    private readonly DomainActorSettings _settings;
    private readonly LiveSettings _live;
    private readonly DeliveryRate _rate;
    private readonly IDeliveryLog? _deliveryLog;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly InFlightBatches _inFlight = new();
    private readonly DomainReachability _reachability = new();
    private readonly HashSet<string> _bouncesRequested = new(StringComparer.Ordinal);
    private readonly HashSet<string> _delayWarningsRequested = new(StringComparer.Ordinal);
    // Cancelled when the actor stops, so spool work it started does not outlive it.
    private readonly CancellationTokenSource _stopping = new();
    private DomainQueueState _state = DomainQueueState.Empty;
    private int _finalMarksPending;
    private string? _lastError;
    private readonly SnapshotRule _snapshots;
    private bool _tickRequested;
    private bool _stopRequested;
    private AyTrack.Core.Shaping.SiteShaping? _site;
    private DateTimeOffset _siteAt;
    private bool _siteLookup;

    public DomainDeliveryActor(string domain, IActorRef workers, IActorRef bouncer, ISpool spool, DomainActorSettings settings,
        LiveSettings live, DeliveryRate rate, IDeliveryLog? deliveryLog)
    {
        _deliveryLog = deliveryLog;
        _live = live;
        _rate = rate;
        _domain = new RecipientDomain(domain);
        _workers = workers;
        _bouncer = bouncer;
        _spool = spool;
        _settings = settings;
        _snapshots = new SnapshotRule(settings.SnapshotEvery);
        PersistenceId = $"domain-{_domain.Value}";

        Recover<SnapshotOffer>(offer => _state = ((DomainQueueSnapshot)offer.Snapshot).ToState());
        Recover<IDomainEvent>(e => _state = _state.Apply(e));

        Command<HandOffStop>(_ =>
        {
            // Arrives only between persists (commands wait while one is in flight), so nothing written is left
            // without its handler; what is still out (sessions, spool updates, bounce requests) is waited for.
            _stopRequested = true;
            StopWhenSettled();
        });
        Command<DomainCommands.EnqueueBatch>(Handle);
        Command<DomainCommands.Wake>(_ =>
        {
            // Woken after a settings change: the mode (and with it the site, or the relay) may have changed.
            _siteAt = DateTimeOffset.MinValue;
            _reachability.Clear();
            RequestTick();
        });
        Command<SiteSlotFree>(_ => RequestTick());
        Command<SiteFound>(found =>
        {
            _siteLookup = false;
            _site = found.Shaping;
            _siteAt = _settings.Clock.GetUtcNow();
            RequestTick();
        });
        Command<TickNow>(_ =>
        {
            _tickRequested = false;
            Tick();
        });
        Command<DomainCommands.QueueAction>(Handle);
        Command<WorkerCommands.BatchDelivered>(Handle);
        Command<BatchFailed>(Handle);
        Command<BounceCommands.BounceQueued>(Handle);
        Command<BounceFailed>(failed => NoticeFailed(_bouncesRequested, "Bounce", failed.Id, failed.Reason));
        Command<BounceCommands.DelayWarningQueued>(warned =>
        {
            _delayWarningsRequested.Remove(warned.Id.Value);
            Persist(new DomainEvents.DelayWarningsQueued(warned.Id, warned.Recipients, _settings.Clock.GetUtcNow()), e =>
            {
                Apply(e);
                RequestTick();
            });
        });
        Command<DelayWarningFailed>(failed => NoticeFailed(_delayWarningsRequested, "Delay warning", failed.Id, failed.Reason));
        Command<Due>(_ => RequestTick());
        Command<ReportFigures>(_ => Report());
        Command<DomainQueries.GetMessages>(get => Sender.Tell(QueueStatusProjection.Messages(_domain, _state, Math.Clamp(get.Limit, 1, 1000))));
        Command<DomainQueries.GetQueue>(_ => Sender.Tell(QueueStatusProjection.From(_domain, _state, _inFlight.Count, _lastError,
            _live.Current.Settings.Timing.RetryDays, _reachability.UnreachableUntil)));
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
        Command<FinalMarked>(_ =>
        {
            if (--_finalMarksPending == 0)
            {
                // The last spool update was what kept an empty queue from passivating.
                RequestTick();
            }
        });
        Command<FinalMarkFailed>(failed =>
        {
            // The journal has already forgotten these recipients: only this retry stands between them and a spool row
            // (and body) kept forever, so it goes on until the spool takes it.
            _log.Warning("Could not mark {0} recipient(s) of {1} at {2} final in the spool ({3}); trying again in {4}",
                failed.Recipients.Count, failed.Id, _domain, failed.Reason, _settings.FinalMarkRetry);
            Timers.StartSingleTimer($"final-{failed.Id.Value}-{Guid.NewGuid():N}", new RetryFinalMark(failed.Id, failed.Recipients), _settings.FinalMarkRetry);
        });
        Command<RetryFinalMark>(retry => StartFinalMark(retry.Id, retry.Recipients));
    }

    public override string PersistenceId { get; }

    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>
    /// How sharding stops a domain actor (hand-off when a shard moves or the node stops, and passivation). Not a
    /// PoisonPill: that stops an actor in the middle of a persist, its handler never runs, and the write's
    /// confirmation ends as a dead letter; a delivery already recorded in the journal would keep its spool row.
    /// </summary>
    public sealed record HandOffStop
    {
        public static HandOffStop Instance { get; } = new();
    }

    public static Props Props(string domain, IActorRef workers, IActorRef bouncer, ISpool spool, DomainActorSettings settings,
        LiveSettings live, DeliveryRate rate, IDeliveryLog? deliveryLog = null) =>
        Akka.Actor.Props.Create(() => new DomainDeliveryActor(domain, workers, bouncer, spool, settings, live, rate, deliveryLog));

    protected override void OnReplaySuccess()
    {
        // Recovery re-arms the retry timer and sends again what was pending when the node stopped (at-least-once); a
        // domain that was unreachable then starts with one message instead of its whole queue.
        _reachability.Recovered(_state, _settings.Clock.GetUtcNow());
        RequestTick();
    }

    /// <summary>
    /// Asks for one look at the queue after the messages already in the mailbox: a burst of arrivals or results
    /// costs one look, not one per message (a look walks the whole queue).
    /// </summary>
    private void RequestTick()
    {
        if (!_tickRequested)
        {
            _tickRequested = true;
            Self.Tell(TickNow.Instance);
        }
    }

    private void Handle(DomainCommands.EnqueueBatch batch)
    {
        // Each message is checked against the state as it will be after the ones before it in the batch.
        var events = new List<DomainEvents.MessageEnqueued>();
        var state = _state;
        foreach (var command in batch.Messages)
        {
            if (state.Process(command) is { } @event)
            {
                events.Add(@event);
                state = state.Apply(@event);
            }
        }

        var replyTo = Sender;
        if (events.Count == 0)
        {
            replyTo.Tell(new DomainCommands.EnqueuedBatch(_domain, batch.Messages.Count));
            return;
        }

        Persist(new DomainEvents.MessagesEnqueued(events), e =>
        {
            Apply(e);
            replyTo.Tell(new DomainCommands.EnqueuedBatch(_domain, batch.Messages.Count));
            RequestTick();
        });
    }

    private void Handle(WorkerCommands.BatchDelivered delivered)
    {
        if (!_inFlight.Contains(delivered.BatchId))
        {
            return;
        }

        var now = _settings.Clock.GetUtcNow();
        var wasProbing = _reachability.Probing;
        _reachability.Observe(delivered.Attempts, now, _settings.MinBackoff, Random.Shared);
        if (_reachability.Probing && !wasProbing)
        {
            _log.Info("{0} could not be reached ({1}); its mail waits until {2}, then one message goes first", _domain,
                _reachability.Reason, _reachability.UnreachableUntil?.ToString("u", System.Globalization.CultureInfo.InvariantCulture));
        }

        RecordAttempts(delivered.BatchId, delivered.Attempts.Select(a => Attempted(a.Id, a.Results, a.RemoteHost, now)).ToList());
    }

    private void Handle(BatchFailed failed)
    {
        if (!_inFlight.TryGet(failed.BatchId, out var items))
        {
            return;
        }

        _log.Warning("No result for a batch of {0} message(s) to {1}: {2}", items.Count, _domain, failed.Reason);
        var reply = new SmtpReply(451, "4.4.7", $"No result from the SMTP worker: {failed.Reason}");
        var now = _settings.Clock.GetUtcNow();
        RecordAttempts(failed.BatchId, items.Select(i => Attempted(i.Id,
            i.Recipients.Select(r => new RecipientAttempt(r, RecipientOutcome.Deferred, reply)).ToList(), null, now)).ToList());
    }

    private void Handle(DomainCommands.QueueAction action)
    {
        if (action.Operation is QueueOperation.Retry or QueueOperation.Release)
        {
            // "Try now" means now, also for a domain that was waiting out an unreachable interval.
            _reachability.Clear();
        }

        var events = _state.Act(action.Operation, action.Id, _settings.Clock.GetUtcNow(), _inFlight.MessageIds);
        var count = events.Sum(e => e.Recipients.Count);
        if (events.Count == 0)
        {
            Sender.Tell(new DomainCommands.QueueActionDone(_domain, action.Operation, 0));
            return;
        }

        var remaining = events.Count;
        var replyTo = Sender;
        PersistAll(events, e =>
        {
            Apply(e);
            if (e.Operation == QueueOperation.Delete)
            {
                // Deleted by an operator is a final state of its own: no delivery, no bounce, and the log says so.
                MarkFinalInSpool(e.Id, e.Recipients);
                _deliveryLog?.Write(e.Recipients.Select(r => new DeliveryLogEntry(e.At, e.Id.Value, null, r, "deleted",
                    "deleted by the operator", null, null, false, 0)));
            }

            if (--remaining == 0)
            {
                _log.Info("Operator {0} on {1}{2}: {3} recipient(s)", action.Operation, _domain, action.Id is null ? string.Empty : $" message {action.Id}", count);
                replyTo.Tell(new DomainCommands.QueueActionDone(_domain, action.Operation, count));
                RequestTick();
            }
        });
    }

    private void Handle(BounceCommands.BounceQueued queued)
    {
        _bouncesRequested.Remove(queued.Id.Value);
        Persist(new DomainEvents.BouncesQueued(queued.Id, queued.Recipients, _settings.Clock.GetUtcNow()), e =>
        {
            Apply(e);
            MarkFinalInSpool(e.Id, e.Recipients);
            RequestTick();
        });
    }

    /// <summary>Builds the event for one message's attempt, choosing the retry time of its deferred recipients.</summary>
    private DomainEvents.AttemptCompleted Attempted(QueueId id, IReadOnlyList<RecipientAttempt> results, string? remoteHost, DateTimeOffset now)
    {
        DateTimeOffset? retryAt = null;
        var deferred = results.Where(r => r.Outcome == RecipientOutcome.Deferred).ToList();
        if (deferred.Count > 0 && _state.Messages.TryGetValue(id.Value, out var message))
        {
            var attempts = deferred.Max(r => message.Recipients.TryGetValue(r.Recipient, out var s) ? s.Attempts : 0) + 1;
            retryAt = RetrySchedule.NextAttempt(attempts, now, _settings.MinBackoff, _settings.MaxBackoff, Random.Shared);
        }

        return new DomainEvents.AttemptCompleted(id, results, now) { RetryAt = retryAt, RemoteHost = remoteHost };
    }

    /// <summary>
    /// Persists a batch's results. The batch counts as in flight until the last result is applied: a Tick in between
    /// would otherwise see its messages as pending again and send them twice.
    /// </summary>
    private void RecordAttempts(Guid batchId, IReadOnlyList<DomainEvents.AttemptCompleted> events)
    {
        if (events.Count == 0)
        {
            _inFlight.Remove(batchId);
            RequestTick();
            return;
        }

        // One event for the whole session: one journal row however many messages it carried.
        Persist(new DomainEvents.AttemptsCompleted(events), e =>
        {
            Apply(e);
            foreach (var attempt in e.Attempts)
            {
                foreach (var failed in attempt.Results.Where(r => r.Outcome != RecipientOutcome.Delivered))
                {
                    _lastError = failed.Reply.ToString();
                }

                var delivered = attempt.Results.Where(r => r.Outcome == RecipientOutcome.Delivered).Select(r => r.Recipient).ToList();
                if (delivered.Count > 0)
                {
                    MarkFinalInSpool(attempt.Id, delivered);
                }
            }

            _inFlight.Remove(batchId);
            RequestTick();
        });
    }

    private void Apply(IDomainEvent e)
    {
        _state = _state.Apply(e);
        if (_snapshots.EventApplied(_state.Messages.Count))
        {
            SaveSnapshot(DomainQueueSnapshot.From(_state));
        }
    }

    /// <summary>
    /// Looks at the queue: expires what has outlived timing.retryDays, starts sessions for what is due (up to the
    /// connection cap, while the sending schedule is open and the rate cap allows), asks for the bounces that are
    /// owed, and sets the timer for the next retry, expiry, schedule opening or rate refill.
    /// </summary>
    private void Tick()
    {
        if (_stopRequested)
        {
            // Stopping: no new sessions or bounce requests, only the outcome of those already out.
            StopWhenSettled();
            return;
        }

        var now = _settings.Clock.GetUtcNow();
        var live = _live.Current;
        var retryDays = live.Settings.Timing.RetryDays;
        var busy = _inFlight.MessageIds;
        var expired = _state.Expired(now, retryDays, busy);
        if (expired.Count > 0)
        {
            // Tick again only once every expiry is applied (a DeferAsync handler could run while later persists are
            // still pending).
            var remaining = expired.Count;
            PersistAll(expired, e =>
            {
                Apply(e);
                _settings.Metrics?.Expired(e.Recipients.Count);
                if (--remaining == 0)
                {
                    RequestTick();
                }
            });
            return;
        }

        DateTimeOffset? blockedUntil = null;
        if (!live.Schedule.IsOpen(now))
        {
            // Outside every sending window nothing starts; mail keeps queuing and moves at the next opening.
            if (_state.HasDue(busy, now))
            {
                blockedUntil = live.Schedule.NextChange(now);
            }
        }
        else if (_reachability.Waiting(now))
        {
            // Unreachable at the last attempt: nothing starts until the interval is over, then one message goes first.
            if (_state.HasDue(busy, now))
            {
                blockedUntil = _reachability.UnreachableUntil;
            }
        }
        else
        {
            blockedUntil = Dispatch(now, busy);
        }

        foreach (var (messageId, recipients) in _state.PendingBounces())
        {
            if (_bouncesRequested.Add(messageId.Value))
            {
                _bouncer.Ask<BounceCommands.BounceQueued>(new BounceCommands.Bounce(messageId, recipients), BounceReplyTimeout)
                    .PipeTo(Self, success: r => r, failure: error => new BounceFailed(messageId, error.Message));
            }
        }

        var delayWarningHours = live.Settings.Timing.EffectiveDelayWarningHours;
        foreach (var (messageId, recipients) in _state.DelayWarningsDue(now, delayWarningHours, _reachability.Reason, busy))
        {
            if (_delayWarningsRequested.Add(messageId.Value))
            {
                _bouncer.Ask<BounceCommands.DelayWarningQueued>(new BounceCommands.WarnDelay(messageId, recipients), BounceReplyTimeout)
                    .PipeTo(Self, success: r => r, failure: error => new DelayWarningFailed(messageId, error.Message));
            }
        }

        var wakeUp = _state.NextWakeUp(retryDays, delayWarningHours);
        if (wakeUp <= now)
        {
            // Due already and still here after Dispatch: in a session now, or waiting for a session slot (the domain's,
            // its site's, a probe's), the rate cap, the schedule or an unreachable interval. Each of those wakes the
            // actor itself (a batch's result, the site's free slot, blockedUntil); a timer due now would only look at
            // the queue again and again while they are out — ten thousand domains doing that starve the node.
            wakeUp = blockedUntil ?? now + DueButBusyRecheck;
        }
        else if (blockedUntil is { } blocked && (wakeUp is null || blocked < wakeUp))
        {
            wakeUp = blocked;
        }

        if (wakeUp is { } due)
        {
            var delay = due - now;
            Timers.StartSingleTimer("retry", Due.Instance, delay < TimeSpan.Zero ? TimeSpan.Zero : delay);
        }
        else
        {
            Timers.Cancel("retry");
        }

        SetReceiveTimeout(_state.Messages.IsEmpty && _inFlight.Count == 0 && _finalMarksPending == 0 ? IdleBeforePassivation : null);
    }

    /// <summary>Starts sessions up to the connection cap and the rate cap; returns when the rate cap allows more, if it stopped.</summary>
    private DateTimeOffset? Dispatch(DateTimeOffset now, IReadOnlySet<string> busy)
    {
        if (_settings.Shaping is { } shaping && _settings.Router is { } router)
        {
            return DispatchBySite(now, busy, shaping, router);
        }

        while (_inFlight.Count < _reachability.SessionLimit(_settings.MaxConnections))
        {
            var batch = _state.NextBatch(_reachability.BatchLimit(_settings.BatchSize), busy, now);
            if (batch.Count == 0)
            {
                break;
            }

            var allowed = _rate.TryTake(batch.Count, now);
            if (allowed == 0)
            {
                return now + _rate.UntilNext(now);
            }

            Send(allowed < batch.Count ? batch.Take(allowed).ToList() : batch, null);
        }

        return null;
    }

    /// <summary>
    /// Sessions for this domain are slots of its site (the MX host set, or the external server in relay mode), shared
    /// with every other domain of the site on this node: the site's connectionLimit (busy and idle sessions count),
    /// messagesPerConnection as the batch size, maxMessageRate, and its suspensions. A full site wakes this actor when
    /// a slot frees; a suspended one when the suspension ends (the timer is set for it as well).
    /// </summary>
    private DateTimeOffset? DispatchBySite(DateTimeOffset now, IReadOnlySet<string> busy, AyTrack.Core.Shaping.LiveShaping shaping,
        AyTrack.Core.Shaping.ISiteRouter router)
    {
        if (_site is null || now - _siteAt >= _settings.SiteRefresh)
        {
            if (_state.HasDue(busy, now) && !_siteLookup)
            {
                // The site must be known before a session is given out: the MX lookup runs beside the actor.
                _siteLookup = true;
                var domain = _domain;
                router.ShapingForAsync(domain, _stopping.Token).PipeTo(Self,
                    success: found => new SiteFound(found),
                    failure: _ => new SiteFound(shaping.For(domain.Value, [])));
            }

            if (_site is null)
            {
                return null;
            }
        }

        var site = _site;
        var self = Self;
        var key = _domain.Value;
        while (_inFlight.Count < _reachability.SessionLimit(int.MaxValue))
        {
            // The batch is made only once a slot is granted: with the site full (the usual case under load) a look
            // would otherwise build one of up to messagesPerConnection items at every event, only to drop it.
            if (!_state.HasDue(busy, now))
            {
                return null;
            }

            var grant = shaping.Limiter.Acquire(site, site.ConnectionLimitOnNode(shaping.UpNodes), key, () => self.Tell(SiteSlotFree.Instance));
            if (grant.Lease is not { } lease)
            {
                // Full: woken when a slot frees. Suspended: woken at its end (or by an operator's resume).
                return grant.RetryAt;
            }

            var batch = _state.NextBatch(_reachability.BatchLimit(site.MessagesPerConnection), busy, now);

            var (bySite, untilNext) = shaping.Limiter.TakeMessages(site.Site, site.MaxMessageRateOnNode(shaping.UpNodes), batch.Count);
            var allowed = bySite == 0 ? 0 : _rate.TryTake(bySite, now);
            if (allowed == 0)
            {
                lease.Release();
                return now + (bySite == 0 ? untilNext : _rate.UntilNext(now));
            }

            Send(allowed < batch.Count ? batch.Take(allowed).ToList() : batch, lease);
        }

        return null;
    }

    /// <summary>Hands a batch to the worker pool; it is in flight (and out of the next batch) from now on.</summary>
    private void Send(IReadOnlyList<BatchItem> batch, AyTrack.Core.Shaping.SiteLease? lease)
    {
        var id = Guid.NewGuid();
        _inFlight.Add(id, batch);
        _workers.Ask<WorkerCommands.BatchDelivered>(new WorkerCommands.DeliverBatch(id, _domain, batch, lease), _settings.BatchReplyTimeout)
            .PipeTo(Self, success: r => r, failure: error => new BatchFailed(id, error.Message));
    }

    private void PassivateIfIdle()
    {
        if (_state.Messages.IsEmpty && _inFlight.Count == 0 && _finalMarksPending == 0)
        {
            // Only an empty queue passivates: an actor with deferred mail keeps its timer. Sharding's own idle
            // passivation is off because it cannot see sessions in flight, whose replies come to Self.
            Context.Parent.Tell(new Passivate(HandOffStop.Instance));
        }
    }

    /// <summary>A bounce or delay warning the bouncer could not queue: asked again after a while (or by the next incarnation).</summary>
    private void NoticeFailed(HashSet<string> requested, string what, QueueId id, string reason)
    {
        requested.Remove(id.Value);
        if (_stopRequested)
        {
            // Asked again by the next incarnation, from the journal.
            StopWhenSettled();
            return;
        }

        _log.Warning("{0} for {1} at {2} not queued ({3}); trying again in {4}", what, id, _domain, reason, BounceRetry);
        Timers.StartSingleTimer("bounce-retry", Due.Instance, BounceRetry);
    }

    private void StopWhenSettled()
    {
        if (_inFlight.Count == 0 && _finalMarksPending == 0 && _bouncesRequested.Count == 0 && _delayWarningsRequested.Count == 0)
        {
            Context.Stop(Self);
        }
    }

    private void MarkFinalInSpool(QueueId id, IReadOnlyCollection<string> recipients)
    {
        _finalMarksPending++;
        StartFinalMark(id, recipients);
    }

    /// <summary>The spool update runs beside the actor; its outcome comes back as a message (the async rule).</summary>
    private void StartFinalMark(QueueId id, IReadOnlyCollection<string> recipients) =>
        _spool.MarkFinalAsync(id, recipients, _stopping.Token).PipeTo(Self,
            success: () => new FinalMarked(id),
            failure: error => new FinalMarkFailed(id, recipients, error.GetBaseException().Message));

    /// <summary>
    /// After any message that may have changed the queue, its figures go to the node's gauges within a second: at most
    /// one count a second, however busy the domain, and none while nothing changes.
    /// </summary>
    protected override bool AroundReceive(Receive receive, object message)
    {
        var handled = base.AroundReceive(receive, message);
        if (_settings.Metrics is not null && message is not ReportFigures && !Timers.IsTimerActive("figures"))
        {
            Timers.StartSingleTimer("figures", ReportFigures.Instance, TimeSpan.FromSeconds(1));
        }

        return handled;
    }

    private void Report()
    {
        var (pending, deferred, held, oldest) = QueueStatusProjection.Figures(_state, _reachability.Probing);
        _settings.Metrics?.Queues.Report(_domain.Value, new AyTrack.Core.Metrics.QueueGauges.QueueFigures(pending, deferred, held, oldest));
    }

    protected override void PostStop()
    {
        // This node no longer holds the queue (passivated, handed off, stopped): its figures leave the node's gauges.
        _settings.Metrics?.Queues.Withdraw(_domain.Value);
        if (_site is not null)
        {
            _settings.Shaping?.Limiter.StopWaiting(_site.Site, _domain.Value);
        }

        _stopping.Cancel();
        _stopping.Dispose();
        base.PostStop();
    }

    private sealed record ReportFigures
    {
        public static ReportFigures Instance { get; } = new();
    }

    private sealed record BatchFailed(Guid BatchId, string Reason);

    /// <summary>The site's limiter has a slot (or an idle session) for this domain now.</summary>
    private sealed record SiteSlotFree
    {
        public static SiteSlotFree Instance { get; } = new();
    }

    private sealed record SiteFound(AyTrack.Core.Shaping.SiteShaping Shaping);

    private sealed record DelayWarningFailed(QueueId Id, string Reason);

    private sealed record FinalMarked(QueueId Id);

    private sealed record FinalMarkFailed(QueueId Id, IReadOnlyCollection<string> Recipients, string Reason);

    private sealed record RetryFinalMark(QueueId Id, IReadOnlyCollection<string> Recipients);

    private sealed record BounceFailed(QueueId Id, string Reason);

    private sealed record Due
    {
        public static Due Instance { get; } = new();
    }

    private sealed record TickNow
    {
        public static TickNow Instance { get; } = new();
    }
}
