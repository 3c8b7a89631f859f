using System.CommandLine;
using System.Text.Json;
using AyTrack.Contracts;

namespace AyTrack.Cli.Commands;

/// <summary>
/// `aytrack site list | show SITE | suspend SITE --for DURATION [--reason R] | resume SITE` (/api/sites) and
/// `aytrack shaping reload` (/api/shaping/reload): the destination sites of the node asked, and its shaping rules.
/// </summary>
public static class SiteCommands
{
    public static Command Create(CliContext cli)
    {
        var sites = new Command("site", "Destination sites (the MX host set of a domain, or the external server): connections, limits, suspensions");

        var list = new Command("list", "The sites this node used in the last hour or holds a suspension or reduction for");
        cli.Run(list, async p =>
        {
            using var client = cli.Client(p);
            var view = await client.GetAsync<SitesView>("/api/sites");
            cli.Output.Write(cli.WantsJson(p)
                ? JsonSerializer.Serialize(view, AdminClient.Json) + Environment.NewLine
                : Output.Table(["site", "domains", "open", "idle", "limit", "why", "rate", "suspended until"],
                    view.Sites.Select(s => (IReadOnlyList<string?>)[s.Site, Domains(s), $"{s.Open}", $"{s.Idle}", $"{s.Limit}", s.LimitReason,
                        s.Rate ?? "-", s.SuspendedUntil is { } until ? Output.Time(until) : "-"])));
        });

        var site = new Argument<string>("site") { Description = "The site as `aytrack site list` shows it" };
        var show = new Command("show", "One site in full") { site };
        cli.Run(show, async p =>
        {
            using var client = cli.Client(p);
            var s = await client.GetAsync<SiteView>($"/api/sites/{Uri.EscapeDataString(p.GetValue(site)!)}");
            cli.Output.Write(cli.WantsJson(p) ? JsonSerializer.Serialize(s, AdminClient.Json) + Environment.NewLine : Describe(s));
        });

        var duration = new Option<string>("--for") { Description = "How long: 30s, 15m, 2h, 1d (at most 30d)", Required = true };
        var reason = new Option<string>("--reason") { Description = "Why, for the delivery log and `site show`" };
        var suspend = new Command("suspend", "Open no new session to the site for a while; its mail waits (deferred, not failed)") { site, duration, reason };
        cli.Run(suspend, async p =>
        {
            using var client = cli.Client(p);
            var s = await client.PostAsync<SiteView>($"/api/sites/{Uri.EscapeDataString(p.GetValue(site)!)}/suspend",
                new SiteSuspendRequest(p.GetValue(duration), p.GetValue(reason)));
            cli.Output.WriteLine($"{s.Site} suspended until {Output.Time(s.SuspendedUntil)}");
        });

        var resume = new Command("resume", "End a site's suspension now") { site };
        cli.Run(resume, async p =>
        {
            using var client = cli.Client(p);
            var s = await client.PostAsync<SiteView>($"/api/sites/{Uri.EscapeDataString(p.GetValue(site)!)}/resume", new { });
            cli.Output.WriteLine($"{s.Site} resumed");
        });

        sites.Subcommands.Add(list);
        sites.Subcommands.Add(show);
        sites.Subcommands.Add(suspend);
        sites.Subcommands.Add(resume);
        return sites;
    }

    public static Command CreateShaping(CliContext cli)
    {
        var shaping = new Command("shaping", "The traffic-shaping rules (AyTrack:Delivery:ShapingPath)");
        var reload = new Command("reload", "Read the rules file again; a file with a problem is refused and the rules in force stay");
        cli.Run(reload, async p =>
        {
            using var client = cli.Client(p);
            var result = await client.PostAsync<ShapingReloadResult>("/api/shaping/reload", new { });
            cli.Output.WriteLine($"shaping rules reloaded: {result.Entries} entries");
        });
        shaping.Subcommands.Add(reload);
        return shaping;
    }

    private static string Domains(SiteView s) =>
        s.Domains.Count <= 3 ? string.Join(", ", s.Domains) : $"{string.Join(", ", s.Domains.Take(3))} and {s.Domains.Count - 3} more";

    private static string Describe(SiteView s) => $"""
        site:        {s.Site}
        domains:     {string.Join(", ", s.Domains)}
        connections: {s.Open} open ({s.Idle} idle), limit {s.Limit}: {s.LimitReason}
        rate:        {s.Rate ?? "no limit"}
        suspended:   {(s.SuspendedUntil is { } until ? $"until {Output.Time(until)}: {s.SuspendedBecause}" : "no")}
        reduced:     {(s.ReducedUntil is { } reduced ? $"until {Output.Time(reduced)}" : "no")}
        waiting:     {s.Waiting} domain(s)
        last used:   {Output.Time(s.LastUsed)}

        """;
}
