using System.CommandLine;
using System.Text.Json;
using AyTrack.Contracts;

namespace AyTrack.Cli.Commands;

/// <summary>`aytrack deliveries [--domain D] [--outcome O] [--limit N]`: the node's newest delivery-log lines (/api/deliveries).</summary>
public static class DeliveriesCommand
{
    public static Command Create(CliContext cli)
    {
        var domain = new Option<string?>("--domain") { Description = "Only recipients at this domain" };
        var outcome = new Option<string?>("--outcome") { Description = "Only this outcome (delivered, deferred, failed, bounced, site, …)" };
        var limit = new Option<int>("--limit") { Description = "How many lines at most, newest first (1-500)", DefaultValueFactory = _ => 50 };
        var deliveries = new Command("deliveries", "The newest lines of this node's delivery log") { domain, outcome, limit };
        cli.Run(deliveries, async p =>
        {
            var query = $"?limit={p.GetValue(limit)}";
            if (p.GetValue(domain) is { Length: > 0 } d)
            {
                query += $"&domain={Uri.EscapeDataString(d)}";
            }

            if (p.GetValue(outcome) is { Length: > 0 } o)
            {
                query += $"&outcome={Uri.EscapeDataString(o)}";
            }

            using var client = cli.Client(p);
            var lines = await client.GetAsync<List<DeliveryEntry>>("/api/deliveries" + query);
            cli.Output.Write(cli.WantsJson(p)
                ? JsonSerializer.Serialize(lines, AdminClient.Json) + Environment.NewLine
                : Output.Table(["time", "outcome", "recipient", "route", "mx", "category", "reply"],
                    lines.Select(l => (IReadOnlyList<string?>)[Output.Time(l.Time), l.Outcome, l.Outcome == "site" ? l.Site : l.Recipient, l.Route,
                        l.MxHost, l.Category, l.Reply])));
        });
        return deliveries;
    }
}
