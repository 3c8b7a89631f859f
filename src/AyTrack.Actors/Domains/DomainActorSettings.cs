namespace AyTrack.Actors.Domains;

/// <summary>Limits and timing the domain actor works with; from AyTrack:Delivery and the operator settings.</summary>
public sealed record DomainActorSettings(int MaxConnections, int BatchSize, TimeSpan BatchReplyTimeout)
{
    public TimeSpan MinBackoff { get; init; } = TimeSpan.FromMinutes(5);

    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromHours(1);

    public int SnapshotEvery { get; init; } = 200;

    /// <summary>How long to wait before trying again to mark delivered or bounced recipients final in the spool.</summary>
    public TimeSpan FinalMarkRetry { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Where the actor reads the time (retry due, expiry, sending windows, the rate cap). Its timers run on the actor
    /// system's scheduler, so a test moves both together: a fake clock and Akka.TestKit's TestScheduler.
    /// </summary>
    public TimeProvider Clock { get; init; } = TimeProvider.System;

    /// <summary>
    /// The node's site shaping and how to find a domain's site. Both set: sessions are given out by the site's limiter
    /// (connectionLimit, messagesPerConnection, maxMessageRate, suspensions); null: <see cref="MaxConnections"/> and
    /// <see cref="BatchSize"/> per domain, as before shaping (tests of the queue alone).
    /// </summary>
    public AyTrack.Core.Shaping.LiveShaping? Shaping { get; init; }

    public AyTrack.Core.Shaping.ISiteRouter? Router { get; init; }

    /// <summary>How long a domain's site (its MX set) is used before it is looked up again; the MX answer itself is cached by its TTL.</summary>
    public TimeSpan SiteRefresh { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Where the actor reports its queue's figures and expiries for /metrics; null reports nothing.</summary>
    public AyTrack.Core.Metrics.AyTrackMetrics? Metrics { get; init; }
}
