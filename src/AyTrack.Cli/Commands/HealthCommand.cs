using System.CommandLine;
using System.Text.Json;
using AyTrack.Contracts;

namespace AyTrack.Cli.Commands;

/// <summary>`aytrack health`: the node's health with each component's reasons and details (GET /api/health).</summary>
public static class HealthCommand
{
    public static Command Create(CliContext cli)
    {
        var health = new Command("health", "The node's health: status, reason codes and what each component found");
        cli.Run(health, async p =>
        {
            using var client = cli.Client(p);
            // 503 (starting or down) still carries the report.
            var report = await client.GetAsync<HealthReport>("/api/health", acceptServiceUnavailable: true);
            if (cli.WantsJson(p))
            {
                cli.Output.WriteLine(JsonSerializer.Serialize(report, AdminClient.Json));
                return;
            }

            cli.Output.WriteLine($"status {report.Status}" + (report.Reasons.Count > 0 ? $" ({string.Join(", ", report.Reasons)})" : string.Empty));
            cli.Output.Write(Output.Table(["component", "status", "reasons", "since", "detail"], report.Components.Select(c => (IReadOnlyList<string?>)
                [c.Name, c.Status, string.Join(", ", c.Reasons), Output.Time(c.Since), c.Detail])));
        });
        return health;
    }
}
