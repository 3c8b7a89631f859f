using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;

namespace AyTrack.Actors;

/// <summary>
/// One per node: keeps a node-local copy of a cluster singleton's state (DKIM keys, submission users). The singleton
/// publishes <typeparamref name="TPublished"/> on a topic after each change, the fast path; a poll (a plain Tell, whose
/// <typeparamref name="TCurrent"/> answer arrives whenever the singleton is ready) catches a publication sent before this
/// node's subscription had spread, as the settings agent does: every 2 s until the first answer, then every 5 s.
/// </summary>
public abstract class MirrorAgent<TPublished, TCurrent> : ReceiveActor, IWithTimers
    where TPublished : class
    where TCurrent : class
{
    private static readonly TimeSpan ReconcileEvery = TimeSpan.FromSeconds(5);
    private readonly string _topic;

    protected MirrorAgent(IActorRef singleton, string topic, object fetch)
    {
        _topic = topic;
        Receive<TPublished>(Apply);
        Receive<TCurrent>(current =>
        {
            Timers.StartPeriodicTimer("fetch", Fetch.Instance, ReconcileEvery, ReconcileEvery);
            Apply(current);
        });
        Receive<Fetch>(_ => singleton.Tell(fetch));
    }

    public ITimerScheduler Timers { get; set; } = null!;

    protected abstract void Apply(TPublished published);

    protected abstract void Apply(TCurrent current);

    protected override void PreStart()
    {
        DistributedPubSub.Get(Context.System).Mediator.Tell(new Subscribe(_topic, Self));
        Timers.StartPeriodicTimer("fetch", Fetch.Instance, TimeSpan.Zero, TimeSpan.FromSeconds(2));
    }

    private sealed record Fetch
    {
        public static Fetch Instance { get; } = new();
    }
}
