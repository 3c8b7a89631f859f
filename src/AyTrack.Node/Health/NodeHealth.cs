using AyTrack.Contracts;
using AyTrack.Core.Delivery;
using AyTrack.Core.Settings;
using AyTrack.Node.Remoting;
using AyTrack.Smtp.Delivery;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace AyTrack.Node.Health;

/// <summary>
/// The node's health, one definition on Microsoft.Extensions.Diagnostics.HealthChecks: a check per component (the
/// cluster's readiness is Akka.Hosting's own check), each naming its problems by reason code. Checks tagged
/// <see cref="Startup"/> make the node <c>starting</c> while they fail; an unhealthy check makes it <c>down</c>; a
/// degraded one, <c>degraded</c>: still ready (mail is accepted and queued) but needing an operator.
/// </summary>
public static class NodeHealth
{
    public const string Startup = "startup";
    public const string ReasonTag = "reason:";

    public static IServiceCollection AddNodeHealth(this IServiceCollection services)
    {
        services.AddSingleton(sp => new StorageHealth(sp.GetRequiredService<TimeProvider>()));
        services.AddHealthChecks()
            .AddCheck<ListenerCheck>("listener", HealthStatus.Unhealthy, [Startup, ReasonTag + HealthCodes.ListenerStarting])
            .AddCheck<RelayCheck>("relay")
            .AddCheck<ClusterTransportCheck>("cluster-transport")
            .AddCheck<StorageCheck>("storage")
            .AddCheck<SettingsCheck>("settings");
        return services;
    }

    /// <summary>The tags that make Akka.Hosting's cluster readiness check a start-up check of ours.</summary>
    public static string[] ClusterReadinessTags => [Startup, ReasonTag + HealthCodes.ClusterJoining];

    public static void MapNodeHealth(this WebApplication app)
    {
        // No token: status and reason codes only (no host, user or error text).
        app.MapGet("/healthz", async (HealthCheckService checks, CancellationToken cancellationToken) =>
        {
            var report = Summarise(await checks.CheckHealthAsync(cancellationToken));
            var summary = new HealthSummary(report.Status, report.Reasons);
            return Results.Json(summary, statusCode: IsReady(report.Status) ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
        });

        // Liveness: the process answers; nothing external is asked, so a slow database never restarts the node.
        app.MapGet("/healthz/live", () => Results.Ok(new { status = "live" }));

        app.MapGet("/api/health", async (HealthCheckService checks, CancellationToken cancellationToken) =>
        {
            var report = Summarise(await checks.CheckHealthAsync(cancellationToken));
            return Results.Json(report, statusCode: IsReady(report.Status) ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
        });
    }

    public static bool IsReady(string status) => status is "ok" or "degraded";

    public static AyTrack.Contracts.HealthReport Summarise(Microsoft.Extensions.Diagnostics.HealthChecks.HealthReport report)
    {
        var components = new List<HealthComponent>();
        var starting = false;
        var down = false;
        foreach (var (name, entry) in report.Entries.OrderBy(e => e.Key, StringComparer.Ordinal))
        {
            var reasons = entry.Data.TryGetValue("reasons", out var listed) && listed is IReadOnlyList<string> codes ? codes.ToList() : [];
            if (entry.Status != HealthStatus.Healthy && reasons.Count == 0)
            {
                reasons.AddRange(entry.Tags.Where(t => t.StartsWith(ReasonTag, StringComparison.Ordinal)).Select(t => t[ReasonTag.Length..]));
            }

            var isStartup = entry.Tags.Contains(Startup);
            starting |= isStartup && entry.Status == HealthStatus.Unhealthy;
            down |= !isStartup && entry.Status == HealthStatus.Unhealthy;
            components.Add(new HealthComponent(name, entry.Status switch
            {
                HealthStatus.Healthy => "ok",
                HealthStatus.Degraded => "degraded",
                _ => isStartup ? "starting" : "down",
            }, reasons, entry.Description ?? entry.Exception?.Message, entry.Data.TryGetValue("since", out var since) ? since as DateTimeOffset? : null));
        }

        var all = components.SelectMany(c => c.Reasons).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        var status = starting ? "starting" : down ? "down" : all.Count > 0 ? "degraded" : "ok";
        return new AyTrack.Contracts.HealthReport(status, all, components);
    }

    internal static HealthCheckResult From(IReadOnlyList<(string Code, string Detail, DateTimeOffset Since)> problems, Func<string, bool> isDown)
    {
        if (problems.Count == 0)
        {
            return HealthCheckResult.Healthy();
        }

        var data = new Dictionary<string, object>
        {
            ["reasons"] = problems.Select(p => p.Code).Distinct(StringComparer.Ordinal).ToList(),
            ["since"] = problems.Min(p => p.Since),
        };
        var detail = string.Join("; ", problems.Select(p => p.Detail));
        return problems.Any(p => isDown(p.Code)) ? HealthCheckResult.Unhealthy(detail, data: data) : HealthCheckResult.Degraded(detail, data: data);
    }
}

internal sealed class ListenerCheck(NodeInfo info) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(info.SmtpEndpoint is null ? HealthCheckResult.Unhealthy("the SMTP listener is not bound yet") : HealthCheckResult.Healthy());
}

internal sealed class RelayCheck(RelayHealth relay) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(relay.Current is { } problem
            ? NodeHealth.From([(problem.Code, problem.Text, problem.Since)], _ => false)
            : HealthCheckResult.Healthy());
}

internal sealed class ClusterTransportCheck(ClusterTransport transport, TimeProvider clock) : IHealthCheck
{
    private readonly DateTimeOffset _started = clock.GetUtcNow();

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(transport.Plaintext
            ? NodeHealth.From([(HealthCodes.ClusterTlsOff, "the cluster port runs in plain text (AyTrack:Cluster:Tls:Enabled=false)", _started)], _ => false)
            : HealthCheckResult.Healthy());
}

internal sealed class StorageCheck(StorageHealth storage, UnreadableMessages unreadable, TimeProvider clock) : IHealthCheck
{
    // Without a writable spool no mail can be accepted: the node is down, not merely degraded.
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var problems = storage.Problems.ToList();
        if (unreadable.Count is var count and > 0)
        {
            problems.Add((HealthCodes.StorageDamaged, $"{count} queued message(s) whose content cannot be read are held (aytrack queue show)",
                unreadable.FirstSeen ?? clock.GetUtcNow()));
        }

        return Task.FromResult(NodeHealth.From(problems, code => code == HealthCodes.SpoolUnwritable));
    }
}

internal sealed class SettingsCheck(LiveSettings live, TimeProvider clock) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(live.Problem is { } problem
            ? NodeHealth.From([(HealthCodes.SettingsInvalid, problem, live.ProblemSince ?? clock.GetUtcNow())], _ => false)
            : HealthCheckResult.Healthy());
}
