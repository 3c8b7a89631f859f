using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Event;
using AyTrack.Core.Dkim;

namespace AyTrack.Actors.Dkim;

/// <summary>
/// One per node: keeps <see cref="LiveDkimKeys"/> equal to the key actor's keys. Publications are the fast path; a
/// slow poll catches one that was sent before this node's subscription had spread (as the settings agent does).
/// </summary>
public sealed class DkimAgent : ReceiveActor, IWithTimers
{
    private static readonly TimeSpan ReconcileEvery = TimeSpan.FromSeconds(5);
    private readonly IActorRef _keys;
    private readonly ILoggingAdapter _log = Context.GetLogger();

    public DkimAgent(IActorRef keys, LiveDkimKeys live)
    {
        _keys = keys;
        Receive<DkimKeysPublished>(p => Apply(live, p.Version, p.Entries));
        Receive<DkimReplies.Keys>(k =>
        {
            Timers.StartPeriodicTimer("fetch", Fetch.Instance, ReconcileEvery, ReconcileEvery);
            Apply(live, k.Version, k.Entries);
        });
        // A plain Tell (see SettingsAgent): the answer comes here whenever the singleton is ready.
        Receive<Fetch>(_ => _keys.Tell(new DkimCommands.GetKeys()));
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(IActorRef keys, LiveDkimKeys live) => Akka.Actor.Props.Create(() => new DkimAgent(keys, live));

    protected override void PreStart()
    {
        DistributedPubSub.Get(Context.System).Mediator.Tell(new Subscribe(DkimKeysPublished.Topic, Self));
        Timers.StartPeriodicTimer("fetch", Fetch.Instance, TimeSpan.Zero, TimeSpan.FromSeconds(2));
    }

    private void Apply(LiveDkimKeys live, long version, IReadOnlyList<DkimKeyEntry> entries)
    {
        try
        {
            if (live.Update(version, entries))
            {
                _log.Info("DKIM keys version {0}: {1} signing key(s) for {2} domain(s)", version, entries.Count(e => e.Active),
                    entries.Where(e => e.Active).Select(e => e.Domain).Distinct().Count());
            }
        }
        catch (Exception error) when (error is System.Security.Cryptography.CryptographicException or FormatException)
        {
            // Mail keeps flowing unsigned rather than stopping; the operator sees why.
            _log.Error("DKIM keys version {0} cannot be opened on this node ({1}): every node needs the same AyTrack:Secrets:KeyFile",
                version, error.Message);
        }
    }

    private sealed record Fetch
    {
        public static Fetch Instance { get; } = new();
    }
}
