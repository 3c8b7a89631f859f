using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Event;
using AyTrack.Core.Shaping;

namespace AyTrack.Actors.Shaping;

/// <summary>An operator's suspension or resume of a site, sent to every node on the topic <see cref="Topic"/>.</summary>
public static class SiteCommands
{
    public const string Topic = "aytrack.sites";

    /// <param name="Origin">The node that took the request (it applied it already).</param>
    public sealed record Suspend(string Site, DateTimeOffset Until, string Reason, string Origin);

    public sealed record Resume(string Site, string Reason, string Origin);
}

/// <summary>
/// Carries an operator's `aytrack site suspend` and `resume` to every node: the node that takes the request applies
/// it at once and publishes it; each other node's agent applies it to its own <see cref="SiteLimiter"/> (sites are
/// limited per node, but an operator's pause is the cluster's). A command from another node is checked as any input
/// is: a site name, a reason and an end in the bounds the API enforces, else dropped with a warning. Automation
/// rules stay per node: a receiver throttles the address it sees.
/// </summary>
public sealed class SitesAgent : ReceiveActor
{
    private readonly ISiteOperations _operations;
    private readonly TimeProvider _clock;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly string _self;

    public SitesAgent(ISiteOperations operations, TimeProvider clock)
    {
        _operations = operations;
        _clock = clock;
        _self = Cluster.Get(Context.System).SelfAddress.ToString();
        Receive<Broadcast>(b => DistributedPubSub.Get(Context.System).Mediator.Tell(new Publish(SiteCommands.Topic, b.Command)));
        Receive<SiteCommands.Suspend>(s =>
        {
            if (s.Origin == _self)
            {
                return;
            }

            if (SiteNames.Problem(s.Site) is not null || !SiteNames.IsReason(s.Reason, SiteNames.MaxStoredReason)
                || s.Until > _clock.GetUtcNow() + ShapingDuration.Max + TimeSpan.FromMinutes(5))
            {
                _log.Warning("Ignored a site suspension from {0}: not a valid site, reason or end", s.Origin);
                return;
            }

            _operations.Suspend(s.Site, s.Until, s.Reason);
        });
        Receive<SiteCommands.Resume>(r =>
        {
            if (r.Origin == _self)
            {
                return;
            }

            if (SiteNames.Problem(r.Site) is not null || !SiteNames.IsReason(r.Reason, SiteNames.MaxStoredReason))
            {
                _log.Warning("Ignored a site resume from {0}: not a valid site or reason", r.Origin);
                return;
            }

            _operations.Resume(r.Site, r.Reason);
        });
        Receive<SubscribeAck>(_ => { });
    }

    /// <summary>Publish this (already applied here) to the other nodes.</summary>
    public sealed record Broadcast(object Command);

    protected override void PreStart() => DistributedPubSub.Get(Context.System).Mediator.Tell(new Subscribe(SiteCommands.Topic, Self));

    public static Props Props(ISiteOperations operations, TimeProvider clock) => Akka.Actor.Props.Create(() => new SitesAgent(operations, clock));
}
