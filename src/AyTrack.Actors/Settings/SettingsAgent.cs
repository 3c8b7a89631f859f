using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Event;
using Akka.Routing;
using AyTrack.Actors.Outbox;
using AyTrack.Actors.Workers;
using AyTrack.Core.Delivery;
using AyTrack.Core.Settings;

namespace AyTrack.Actors.Settings;

public static class ThreadCommands
{
    /// <summary>Resize this node's SMTP worker pool until the next settings change or restart (an override).</summary>
    public sealed record OverrideThreads(int Size);

    public sealed record GetThreads;

    public sealed record ThreadsStatus(string Node, int Routees, int Setting, int? Override);
}

/// <summary>
/// Applies the settings on one node: subscribes to the config actor's publications, keeps <see cref="LiveSettings"/>
/// current, resizes the SMTP worker pool to timing.threads (SetPoolSize, an absolute size), sets this node's share of
/// timing.maxLoadPerHour from the number of up members, and wakes queued domains so a new schedule or retry lifetime
/// acts at once.
/// </summary>
public sealed class SettingsAgent : ReceiveActor, IWithTimers
{
    private readonly IActorRef _config;
    private readonly IActorRef _workers;
    private readonly IActorRef _dispatcher;
    private readonly LiveSettings _live;
    private readonly DeliveryRate _rate;
    private readonly SecretBox _secrets;
    private readonly TimeProvider _clock;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Cluster _cluster = Cluster.Get(Context.System);
    private static readonly TimeSpan ReconcileEvery = TimeSpan.FromSeconds(5);
    private int? _override;
    private bool _reconciling;

    public SettingsAgent(IActorRef config, IActorRef workers, IActorRef dispatcher, LiveSettings live, DeliveryRate rate, SecretBox secrets,
        TimeProvider clock, AyTrack.Core.Shaping.LiveShaping? shaping = null)
    {
        _clock = clock;
        _shaping = shaping;
        _config = config;
        _workers = workers;
        _dispatcher = dispatcher;
        _live = live;
        _rate = rate;
        _secrets = secrets;

        Receive<SettingsPublished>(p => Apply(p.Version, p.Document, p.SealedPassword, p.Invalid));
        Receive<ConfigReplies.CurrentSettings>(c =>
        {
            if (!_reconciling)
            {
                // Publications are the fast path, but one sent before this node's subscription has spread through the
                // cluster (a node that just joined) never arrives: a slow poll makes every node converge anyway.
                _reconciling = true;
                Timers.StartPeriodicTimer("fetch", Fetch.Instance, ReconcileEvery, ReconcileEvery);
            }

            Apply(c.Version, c.Document, c.SealedPassword, c.Invalid);
        });
        // A plain Tell, not an Ask: while the singleton recovers, the proxy holds the question and the answer comes
        // here whenever it is ready. An Ask would time out first and its late answer would end as a dead letter.
        Receive<Fetch>(_ => _config.Tell(new ConfigCommands.GetSettings()));
        Receive<ClusterEvent.IMemberEvent>(_ => ConfigureRate());
        Receive<ClusterEvent.CurrentClusterState>(_ => ConfigureRate());
        Receive<ThreadCommands.OverrideThreads>(o =>
        {
            _override = o.Size;
            _log.Info("Worker pool of this node overridden to {0} until the next settings change", o.Size);
            ResizeTo(o.Size);
            Sender.Tell(new ThreadCommands.ThreadsStatus(_cluster.SelfAddress.ToString(), o.Size, _live.Current.Settings.Timing.Threads, _override));
        });
        Receive<ThreadCommands.GetThreads>(_ =>
        {
            var replyTo = Sender;
            var setting = _live.Current.Settings.Timing.Threads;
            var overridden = _override;
            var node = _cluster.SelfAddress.ToString();
            _workers.Ask<Routees>(GetRoutees.Instance, TimeSpan.FromSeconds(5))
                .PipeTo(replyTo, success: r => new ThreadCommands.ThreadsStatus(node, r.Members.Count(), setting, overridden));
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(IActorRef config, IActorRef workers, IActorRef dispatcher, LiveSettings live, DeliveryRate rate, SecretBox secrets,
        TimeProvider clock, AyTrack.Core.Shaping.LiveShaping? shaping = null) =>
        Akka.Actor.Props.Create(() => new SettingsAgent(config, workers, dispatcher, live, rate, secrets, clock, shaping));

    private readonly AyTrack.Core.Shaping.LiveShaping? _shaping;

    protected override void PreStart()
    {
        DistributedPubSub.Get(Context.System).Mediator.Tell(new Subscribe(SettingsPublished.Topic, Self));
        _cluster.Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsSnapshot, typeof(ClusterEvent.IMemberEvent));
        // The singleton may not be up yet (it needs the cluster): ask until it answers.
        Timers.StartPeriodicTimer("fetch", Fetch.Instance, TimeSpan.Zero, TimeSpan.FromSeconds(2));
    }

    protected override void PostStop() => _cluster.Unsubscribe(Self);

    private void Apply(long version, string document, string? sealedPassword, string? invalid)
    {
        _live.Problem = invalid;
        // The 5 s reconciliation mostly brings the version already applied: no need to parse it and unseal the password.
        if (!_live.IsNewer(version))
        {
            return;
        }

        var settings = SettingsWire.Restore(document, sealedPassword, _secrets);
        if (!_live.Update(new SettingsSnapshot(settings, version)))
        {
            return;
        }

        _override = null;
        _log.Info("Applying settings version {0}: mode {1}, threads {2}, max load {3}/h, retry days {4}",
            version, settings.Mode, settings.Timing.Threads, settings.Timing.MaxLoadPerHour, settings.Timing.RetryDays);
        ResizeTo(settings.Timing.Threads);
        ConfigureRate();
        _dispatcher.Tell(OutboxDispatcherCommands.WakePending.Instance);
    }

    /// <summary>An absolute size: overlapping resizes end at the last one. A removed worker stops after the batch in hand.</summary>
    private void ResizeTo(int size) => _workers.Tell(new WorkerCommands.SetPoolSize(size));

    private void ConfigureRate()
    {
        var up = _cluster.State.Members.Count(m => m.Status == MemberStatus.Up);
        _rate.Configure(_live.Current.Settings.Timing.MaxLoadPerHour, Math.Max(1, up), _clock.GetUtcNow());
        // Cluster-wide shaping limits are shared among the same up members.
        if (_shaping is not null)
        {
            _shaping.UpNodes = up;
        }
    }

    private sealed record Fetch
    {
        public static Fetch Instance { get; } = new();
    }
}
