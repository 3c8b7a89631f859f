using Akka.Actor;
using Akka.Cluster.Hosting;
using Akka.Cluster.Sharding;
using Akka.Hosting;
using Akka.Routing;
using AyTrack.Actors.Bounces;
using AyTrack.Actors.Dkim;
using AyTrack.Actors.Users;
using AyTrack.Actors.Domains;
using AyTrack.Actors.Serialization;
using AyTrack.Actors.Settings;
using AyTrack.Actors.Outbox;
using AyTrack.Actors.Workers;
using AyTrack.Core.Configuration;
using AyTrack.Core.Delivery;
using AyTrack.Core.Domains;
using AyTrack.Core.Dkim;
using AyTrack.Core.Users;
using AyTrack.Core.Settings;
using AyTrack.Core.Spool;
using Microsoft.Extensions.DependencyInjection;

namespace AyTrack.Actors;

/// <summary>Registry key for the domain actors' shard region.</summary>
public sealed class DomainRegion;

/// <summary>Routes a message to the domain actor of its recipient domain; shards by a stable hash of the domain.</summary>
public sealed class DomainMessageExtractor(int numberOfShards) : HashCodeMessageExtractor(numberOfShards)
{
    public override string? EntityId(object message) => message is IWithRecipientDomain m ? m.Domain.Value : null;
}

public static class AyTrackActors
{
    public const string DomainTypeName = "domain";

    /// <summary>
    /// Registers AyTrack's actors: the AyTrack serializer for events and messages, the SMTP worker pool (its size is
    /// timing.threads), the domain actors as a shard region, and the outbox dispatcher that feeds them.
    /// </summary>
    public static AkkaConfigurationBuilder AddAyTrackActors(this AkkaConfigurationBuilder builder, AyTrackOptions options,
        IReadOnlyCollection<string> configuredSettingPaths)
    {
        var delivery = options.Delivery;
        var domainSettings = new DomainActorSettings(delivery.MaxConnectionsPerDestination, delivery.BatchSize, delivery.BatchReplyTimeout)
        {
            MinBackoff = delivery.MinBackoff,
            MaxBackoff = delivery.MaxBackoff,
        };

        return builder
            .WithCustomSerializer("aytrack", AyTrackSerializer.BoundTypes, system => new AyTrackSerializer(system))
            .WithActors((system, registry, resolver) =>
            {
                var transport = resolver.GetService<IDeliveryTransport>();
                var pool = system.ActorOf(SmtpWorkerPool.Props(options.Settings.Timing.Threads, transport,
                    resolver.GetService<AyTrack.Core.Metrics.AyTrackMetrics>()), "smtp-workers");
                registry.Register<SmtpWorkerPool>(pool);
                var bouncer = system.ActorOf(BounceActor.Props(resolver.GetService<ISpool>(), resolver.GetService<IDeliveryLog>(),
                    options.Listener.EffectiveServerName, resolver.GetService<TimeProvider>(), resolver.GetService<AyTrack.Core.Bounces.BounceClassifier>()),
                    "bouncer");
                registry.Register<BounceActor>(bouncer);
            })
            .WithShardRegion<DomainRegion>(DomainTypeName, (_, registry, resolver) =>
            {
                var spool = resolver.GetService<ISpool>();
                var live = resolver.GetService<LiveSettings>();
                var rate = resolver.GetService<DeliveryRate>();
                var deliveryLog = resolver.GetService<IDeliveryLog>();
                var clocked = domainSettings with
                {
                    Clock = resolver.GetService<TimeProvider>(),
                    Metrics = resolver.GetService<AyTrack.Core.Metrics.AyTrackMetrics>(),
                    Shaping = resolver.GetService<AyTrack.Core.Shaping.LiveShaping>(),
                    Router = resolver.GetService<AyTrack.Core.Shaping.ISiteRouter>(),
                };
                return domain => DomainDeliveryActor.Props(domain, registry.Get<SmtpWorkerPool>(), registry.Get<BounceActor>(), spool,
                    clocked, live, rate, deliveryLog);
            }, new DomainMessageExtractor(options.Cluster.NumberOfShards), new ShardOptions
            {
                StateStoreMode = StateStoreMode.DData,
                // When a shard moves (a node joins, leaves or crashes), its domains restart on the new node at once
                // and re-arm their retry timers from the journal, without waiting for new mail. The eventsourced
                // store keeps the remembered set in the shared journal (the DData store's LightningDB fails here).
                RememberEntities = true,
                RememberEntitiesStore = RememberEntitiesStore.Eventsourced,
                // Domain actors passivate themselves when their queue is empty; see DomainDeliveryActor.
                ShouldPassivateIdleEntities = false,
                HandOffStopMessage = DomainDeliveryActor.HandOffStop.Instance,
            })
            .WithDistributedPubSub(role: "delivery")
            .WithSingleton<ConfigActor>("config",
                (_, _, resolver) => RestartedWhenStopped(ConfigActor.Props(options.Settings, configuredSettingPaths, resolver.GetService<SecretBox>(),
                    resolver.GetService<TimeProvider>()), "config"),
                new ClusterSingletonOptions { Role = "delivery" }, createProxyToo: true)
            .WithSingleton<DkimKeysActor>("dkim",
                (_, _, resolver) => RestartedWhenStopped(DkimKeysActor.Props(resolver.GetService<TimeProvider>()), "dkim"),
                new ClusterSingletonOptions { Role = "delivery" }, createProxyToo: true)
            .WithSingleton<UsersActor>("users",
                (_, _, resolver) => RestartedWhenStopped(UsersActor.Props(resolver.GetService<TimeProvider>()), "users"),
                new ClusterSingletonOptions { Role = "delivery" }, createProxyToo: true)
            .WithActors((system, registry, resolver) =>
            {
                system.ActorOf(DkimAgent.Props(registry.Get<DkimKeysActor>(), resolver.GetService<LiveDkimKeys>()), "dkim-agent");
                system.ActorOf(UsersAgent.Props(registry.Get<UsersActor>(), resolver.GetService<LiveUsers>()), "users-agent");
                registry.Register<Shaping.SitesAgent>(system.ActorOf(Shaping.SitesAgent.Props(
                    resolver.GetService<AyTrack.Core.Shaping.ISiteOperations>(), resolver.GetService<TimeProvider>()), "sites-agent"));
                var dispatcher = system.ActorOf(
                    OutboxDispatcher.Props(resolver.GetService<ISpool>(), registry.Get<DomainRegion>()), "outbox-dispatcher");
                registry.Register<OutboxDispatcher>(dispatcher);
                var agent = system.ActorOf(SettingsAgent.Props(registry.Get<ConfigActor>(), registry.Get<SmtpWorkerPool>(), dispatcher,
                    resolver.GetService<LiveSettings>(), resolver.GetService<DeliveryRate>(), resolver.GetService<SecretBox>(),
                    resolver.GetService<TimeProvider>(), resolver.GetService<AyTrack.Core.Shaping.LiveShaping>()), "settings-agent");
                registry.Register<SettingsAgent>(agent);
            });
    }

    /// <summary>
    /// A persistent singleton under a back-off supervisor. A write its journal refuses (the database down for a moment)
    /// stops a persistent actor, and a cluster singleton manager does not start a singleton that stopped by itself: the
    /// node's settings, DKIM keys or submission users would stay unreachable until the node restarted. Started again
    /// after 1 s, doubling to 30 s while it keeps failing, it recovers from the journal like any restart; the agents
    /// ask again until it answers.
    /// </summary>
    private static Props RestartedWhenStopped(Props singleton, string name) =>
        Akka.Pattern.BackoffSupervisor.Props(singleton, name, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30), 0.2);
}
