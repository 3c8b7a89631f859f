using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace AyTrack.Core.Metrics;

/// <summary>
/// The node's instruments (System.Diagnostics.Metrics), exported by the node as Prometheus metrics under the meter's
/// prefix <c>aytrack_</c>. One instance per node, with its own <see cref="Meter"/>, so nodes that share a process
/// (tests) never mix their figures. Gauges read values the parts keep up to date as they work (the worker pool its
/// size, each domain actor its queue); nothing is asked of an actor at scrape time. Label values come from small
/// fixed sets, never a domain or an address.
/// </summary>
public sealed class AyTrackMetrics : IDisposable
{
    public const string MeterName = "AyTrack";

    private readonly Counter<long> _accepted;
    private readonly Counter<long> _deliveries;
    private readonly Histogram<double> _acceptance;
    private readonly Histogram<double> _sessions;
    private int _poolSize;
    private int _busy;

    public AyTrackMetrics(TimeProvider clock)
    {
        Meter = new Meter(MeterName);
        Queues = new QueueGauges(clock);
        _accepted = Meter.CreateCounter<long>("messages_accepted_total", description: "Messages accepted (250 or 202 sent), by source: smtp or http");
        _deliveries = Meter.CreateCounter<long>("deliveries_total",
            description: "Recipients' outcomes: delivered, deferred, bounced (refused for good at an attempt) by route (direct, relay); expired (retry days over) without a route");
        _acceptance = Meter.CreateHistogram<double>("acceptance_duration_seconds", unit: "s",
            description: "From the end of a message's data to its 250 (or the HTTP 202): the durable spool write");
        _sessions = Meter.CreateHistogram<double>("smtp_session_duration_seconds", unit: "s", description: "Inbound SMTP sessions, connect to close");
        Meter.CreateObservableGauge("queue_recipients", () => Queues.Counts(), description: "Recipients queued on this node's domain actors, by state: pending, deferred, held");
        Meter.CreateObservableGauge("queue_oldest_age_seconds", () => Queues.OldestAgeSeconds(),
            description: "Age of the oldest message still queued on this node's domain actors (0 when none)");
        Meter.CreateObservableGauge("worker_pool_size", () => Volatile.Read(ref _poolSize), description: "SMTP workers on this node (timing.threads, or the node's override)");
        Meter.CreateObservableGauge("worker_busy", () => Volatile.Read(ref _busy), description: "SMTP workers in a session now");
        Meter.CreateObservableGauge("cluster_members", ClusterMembers, description: "Cluster members as this node sees them, by status");
        Meter.CreateObservableGauge("site_sessions", SiteSessions,
            description: "Outbound sessions this node holds for destination sites, by state: busy (a batch), idle (kept for the next batch)");
        Meter.CreateObservableGauge("sites_restricted", SitesRestricted,
            description: "Destination sites this node holds a suspension or a reduction for, by kind: suspended, reduced");
    }

    /// <summary>The node's site limiter, read at scrape time (set by the node).</summary>
    public AyTrack.Core.Shaping.SiteLimiter? Sites { get; set; }

    public Meter Meter { get; }

    public QueueGauges Queues { get; }

    /// <summary>Cluster members by status (up, joining, leaving, …, unreachable), set by the node once its actor system runs.</summary>
    public Func<IReadOnlyDictionary<string, int>>? Members { get; set; }

    public static IReadOnlySet<string> DurationHistograms { get; } = new HashSet<string>(["acceptance_duration_seconds", "smtp_session_duration_seconds"]);

    public void Accepted(string source, TimeSpan took)
    {
        _accepted.Add(1, new KeyValuePair<string, object?>("source", source));
        _acceptance.Record(took.TotalSeconds);
    }

    public void SessionEnded(TimeSpan took) => _sessions.Record(took.TotalSeconds);

    /// <summary>One recipient's outcome at an attempt: <paramref name="outcome"/> is delivered, deferred or bounced.</summary>
    public void Delivery(string outcome, string route) =>
        _deliveries.Add(1, new KeyValuePair<string, object?>("outcome", outcome), new KeyValuePair<string, object?>("route", route));

    public void Expired(int recipients) => _deliveries.Add(recipients, new KeyValuePair<string, object?>("outcome", "expired"));

    public void Pool(int size, int busy)
    {
        Volatile.Write(ref _poolSize, size);
        Volatile.Write(ref _busy, busy);
    }

    private IEnumerable<Measurement<int>> SiteSessions()
    {
        var (busy, idle, _, _) = Sites?.Totals() ?? default;
        return [new Measurement<int>(busy, new KeyValuePair<string, object?>("state", "busy")), new Measurement<int>(idle, new KeyValuePair<string, object?>("state", "idle"))];
    }

    private IEnumerable<Measurement<int>> SitesRestricted()
    {
        var (_, _, suspended, reduced) = Sites?.Totals() ?? default;
        return [new Measurement<int>(suspended, new KeyValuePair<string, object?>("kind", "suspended")),
            new Measurement<int>(reduced, new KeyValuePair<string, object?>("kind", "reduced"))];
    }

    private IEnumerable<Measurement<int>> ClusterMembers() =>
        (Members?.Invoke() ?? new Dictionary<string, int>()).Select(m => new Measurement<int>(m.Value, new KeyValuePair<string, object?>("status", m.Key)));

    public void Dispose() => Meter.Dispose();
}

/// <summary>
/// What each domain actor on this node holds, as it last reported it; summed when the gauges are read. A domain that
/// stops (passivation, hand-off to another node) withdraws its figures.
/// </summary>
public sealed class QueueGauges(TimeProvider clock)
{
    private readonly ConcurrentDictionary<string, QueueFigures> _domains = new(StringComparer.Ordinal);

    public readonly record struct QueueFigures(int Pending, int Deferred, int Held, DateTimeOffset? Oldest);

    public void Report(string domain, QueueFigures figures)
    {
        if (figures is { Pending: 0, Deferred: 0, Held: 0, Oldest: null })
        {
            _domains.TryRemove(domain, out _);
        }
        else
        {
            _domains[domain] = figures;
        }
    }

    public void Withdraw(string domain) => _domains.TryRemove(domain, out _);

    public IEnumerable<Measurement<long>> Counts()
    {
        long pending = 0, deferred = 0, held = 0;
        foreach (var figures in _domains.Values)
        {
            pending += figures.Pending;
            deferred += figures.Deferred;
            held += figures.Held;
        }

        return
        [
            new Measurement<long>(pending, new KeyValuePair<string, object?>("state", "pending")),
            new Measurement<long>(deferred, new KeyValuePair<string, object?>("state", "deferred")),
            new Measurement<long>(held, new KeyValuePair<string, object?>("state", "held")),
        ];
    }

    public double OldestAgeSeconds()
    {
        var oldest = _domains.Values.Select(f => f.Oldest).Where(o => o is not null).DefaultIfEmpty(null).Min();
        return oldest is null ? 0 : Math.Max(0, (clock.GetUtcNow() - oldest.Value).TotalSeconds);
    }
}
