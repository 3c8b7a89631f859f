using System.Diagnostics.Metrics;
using AyTrack.Core.Metrics;
using Prometheus;

namespace AyTrack.Node;

/// <summary>
/// GET /metrics: the node's own Prometheus registry, filled by prometheus-net's MeterAdapter from this node's
/// <see cref="AyTrackMetrics"/> meter and .NET's runtime meter (System.Runtime), plus prometheus-net's process and
/// runtime collectors. Its own registry (not prometheus-net's static default) and a filter on this node's meter
/// instance, so nodes sharing a process never report each other's figures; other meters (HttpClient's would label
/// series with the host names of MTA-STS policy servers) are left out so that every label value stays bounded.
/// </summary>
public sealed class NodeMetrics : IDisposable
{
    private static readonly double[] DurationBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

    private readonly IDisposable _adapter;

    private NodeMetrics(CollectorRegistry registry, IDisposable adapter)
    {
        Registry = registry;
        _adapter = adapter;
    }

    public CollectorRegistry Registry { get; }

    public static NodeMetrics Create(AyTrackMetrics metrics)
    {
        var registry = Metrics.NewCustomRegistry();
        DotNetStats.Register(registry);
        var adapter = MeterAdapter.StartListening(new MeterAdapterOptions
        {
            // Both: the registry the adapter's own bookkeeping goes to, and the factory its metrics are made by (by
            // default prometheus-net's static one, which would put them in the process-wide default registry).
            Registry = registry,
            MetricFactory = Metrics.WithCustomRegistry(registry),
            InstrumentFilterPredicate = instrument => ReferenceEquals(instrument.Meter, metrics.Meter) || instrument.Meter.Name == "System.Runtime",
            ResolveHistogramBuckets = instrument => ReferenceEquals(instrument.Meter, metrics.Meter) && AyTrackMetrics.DurationHistograms.Contains(instrument.Name)
                ? DurationBuckets
                : MeterAdapterOptions.DefaultHistogramBuckets,
        });
        return new NodeMetrics(registry, adapter);
    }

    public void Dispose() => _adapter.Dispose();
}

public static class NodeMetricsEndpoint
{
    /// <summary>/metrics, behind <see cref="Admin.AdminAuthentication"/> (the admin or the metrics token).</summary>
    public static void MapNodeMetrics(this WebApplication app) =>
        app.MapMetrics("/metrics", app.Services.GetRequiredService<NodeMetrics>().Registry);
}
