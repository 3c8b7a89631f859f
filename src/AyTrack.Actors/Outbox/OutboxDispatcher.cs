using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using AyTrack.Core.Addresses;
using AyTrack.Core.Domains;
using AyTrack.Core.Spool;

namespace AyTrack.Actors.Outbox;

public static class OutboxDispatcherCommands
{
    /// <summary>Wake every domain that holds queued mail (after a restart, or when a settings change should act at once).</summary>
    public sealed record WakePending
    {
        public static WakePending Instance { get; } = new();
    }
}

/// <summary>
/// Moves accepted mail from the spool's outbox to the domain actors: splits each message's recipients by domain
/// (always, also when everything goes through a relay, so queues and retry state stay per domain), sends an
/// <see cref="DomainCommands.EnqueueBatch"/> per domain to the shard region, and marks the recipients dispatched only when the domain
/// actor has confirmed that they are in its journal. A crash between the two repeats the Enqueue, which the domain
/// actor ignores for recipients it already has.
/// </summary>
public sealed class OutboxDispatcher : ReceiveActor, IWithTimers
{
    private const int MaxRecipientsPerDrain = 2_000;
    private const int MaxMessagesPerEnqueue = 200;
    private static readonly TimeSpan SafetyPoll = TimeSpan.FromSeconds(5);
    // A journal write takes milliseconds; an Enqueue that gets no answer for this long was lost on its way (sent to a
    // node that died while its shards moved) and is sent again from the outbox. This bounds how long such mail waits.
    private static readonly TimeSpan EnqueueTimeout = TimeSpan.FromSeconds(10);

    private readonly ISpool _spool;
    private readonly IActorRef _domains;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Action _onOutboxChanged;
    private bool _draining;
    private bool _again;

    public OutboxDispatcher(ISpool spool, IActorRef domains)
    {
        _spool = spool;
        _domains = domains;
        var self = Self;
        _onOutboxChanged = () => self.Tell(OutboxChanged.Instance);

        Receive<OutboxChanged>(_ => StartDrain());
        Receive<OutboxDispatcherCommands.WakePending>(_ => WakePending());
        Receive<ClusterEvent.MemberRemoved>(removed => TakeOver(removed.Member.Address));
        Receive<TakenOver>(taken =>
        {
            if (taken.Recipients > 0)
            {
                _log.Info("Took over {0} undispatched recipient(s) accepted by {1}", taken.Recipients, taken.Node);
                StartDrain();
            }
        });
        Receive<PendingDomains>(pending =>
        {
            _log.Info("Waking {0} domain(s) with queued mail", pending.Domains.Count);
            foreach (var domain in pending.Domains)
            {
                _domains.Tell(new DomainCommands.Wake(domain));
            }
        });
        Receive<DrainCompleted>(completed =>
        {
            _draining = false;
            if (_again || completed.Dispatched >= MaxRecipientsPerDrain)
            {
                StartDrain();
            }
        });
        Receive<Status.Failure>(failure =>
        {
            _draining = false;
            _log.Warning("Draining the outbox failed, will retry: {0}", failure.Cause.Message);
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(ISpool spool, IActorRef domains) => Akka.Actor.Props.Create(() => new OutboxDispatcher(spool, domains));

    protected override void PreStart()
    {
        _spool.OutboxChanged += _onOutboxChanged;
        // The signal is the fast path; the poll covers anything accepted while this actor was not listening (a
        // restart) and Enqueues that failed.
        Timers.StartPeriodicTimer("poll", OutboxChanged.Instance, TimeSpan.Zero, SafetyPoll);
        Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
            typeof(ClusterEvent.MemberRemoved));

        // Domain actors are started by mail; after a restart, those holding deferred mail must start without waiting
        // for new mail, so their retry timers run again. The spool's recipients are the index of such domains.
        WakePending();
    }

    private void WakePending()
    {
        var log = _log;
        _spool.PendingDomainsAsync(CancellationToken.None).PipeTo(Self, success: domains => new PendingDomains(domains), failure: error =>
        {
            log.Warning("Could not list domains with queued mail: {0}", error.Message);
            return new PendingDomains([]);
        });
    }

    protected override void PostStop()
    {
        _spool.OutboxChanged -= _onOutboxChanged;
        Cluster.Get(Context.System).Unsubscribe(Self);
    }

    /// <summary>
    /// A node that left or was downed may have accepted mail it never handed to a domain actor. Every survivor
    /// tries to take its outbox claims (named host:port, as its spool names them); one wins, the others find none.
    /// </summary>
    private void TakeOver(Address removed)
    {
        if (removed.Host is null || removed.Port is null || removed == Cluster.Get(Context.System).SelfAddress)
        {
            return;
        }

        var node = $"{removed.Host}:{removed.Port}";
        var log = _log;
        _spool.TakeOverClaimsAsync(node, CancellationToken.None).PipeTo(Self, success: n => new TakenOver(node, n), failure: error =>
        {
            log.Warning("Could not take over the outbox of {0} (its claims expire on their own): {1}", node, error.Message);
            return new TakenOver(node, 0);
        });
    }

    private void StartDrain()
    {
        if (_draining)
        {
            _again = true;
            return;
        }

        _draining = true;
        _again = false;
        DrainAsync().PipeTo(Self);
    }

    private async Task<DrainCompleted> DrainAsync()
    {
        var entries = await _spool.ReadOutboxAsync(MaxRecipientsPerDrain, CancellationToken.None);
        if (entries.Count == 0)
        {
            return new DrainCompleted(0);
        }

        // One command per domain (in chunks that stay far below the remoting frame size): the domain actor writes a
        // chunk's events in one journal write.
        var enqueues = entries.GroupBy(e => e.Domain).SelectMany(g => g.Chunk(MaxMessagesPerEnqueue)).Select(async chunk =>
        {
            var domain = chunk[0].Domain;
            try
            {
                await _domains.Ask<DomainCommands.EnqueuedBatch>(new DomainCommands.EnqueueBatch(domain,
                    chunk.Select(e => new DomainCommands.NewMessage(e.Domain, e.Id, e.Recipients, e.ReceivedAt)).ToList()), EnqueueTimeout);
                return chunk;
            }
            catch (Exception error)
            {
                _log.Warning("Enqueue of {0} message(s) for {1} not confirmed ({2}); they stay in the outbox", chunk.Length, domain, error.Message);
                return [];
            }
        });

        var confirmed = (await Task.WhenAll(enqueues)).SelectMany(c => c).ToList();
        if (confirmed.Count > 0)
        {
            await _spool.MarkDispatchedAsync(confirmed, CancellationToken.None);
        }

        return new DrainCompleted(confirmed.Sum(e => e.Recipients.Count));
    }

    private sealed record OutboxChanged
    {
        public static OutboxChanged Instance { get; } = new();
    }

    private sealed record DrainCompleted(int Dispatched);

    private sealed record TakenOver(string Node, int Recipients);

    private sealed record PendingDomains(IReadOnlyList<RecipientDomain> Domains);
}
