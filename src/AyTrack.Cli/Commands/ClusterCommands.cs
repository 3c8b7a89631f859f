using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using AyTrack.Contracts;

namespace AyTrack.Cli.Commands;

/// <summary>`aytrack cluster show | leave ADDRESS | down-unreachable`: membership (/api/cluster).</summary>
public static class ClusterCommands
{
    public static Command Create(CliContext cli)
    {
        var cluster = new Command("cluster", "Cluster membership");

        var show = new Command("show", "Members, status, roles, reachability and shards hosted");
        cli.Run(show, async p =>
        {
            using var client = cli.Client(p);
            var view = await client.GetAsync<ClusterView>("/api/cluster");
            cli.Output.Write(cli.WantsJson(p)
                ? JsonSerializer.Serialize(view, AdminClient.Json) + Environment.NewLine
                : Output.Table(["address", "status", "roles", "reachable", "shards", "leader"], view.Members.Select(m => (IReadOnlyList<string?>)
                    [m.Address + (m.Self ? " (this node)" : string.Empty), m.Status, string.Join(",", m.Roles), m.Reachable ? "yes" : "NO",
                        m.Shards.ToString(CultureInfo.InvariantCulture), m.Address == view.Leader ? "*" : string.Empty])));
        });

        var address = new Argument<string>("address") { Description = "The member's address, as `cluster show` lists it" };
        var leave = new Command("leave", "Let a member leave gracefully: its shards move first, then it stops") { address };
        cli.Run(leave, async p =>
        {
            using var client = cli.Client(p);
            var result = await client.PostAsync<ClusterActionResult>("/api/cluster/leave", new ClusterLeaveRequest(p.GetValue(address)));
            cli.Output.WriteLine($"{string.Join(", ", result.Members)} is leaving the cluster");
        });

        var down = new Command("down-unreachable", "Down every member this node sees as unreachable (their shards move on)");
        cli.Run(down, async p =>
        {
            using var client = cli.Client(p);
            var result = await client.PostAsync<ClusterActionResult>("/api/cluster/down-unreachable", new { });
            cli.Output.WriteLine(result.Members.Count == 0
                ? "no member is unreachable"
                : $"downed {string.Join(", ", result.Members)}");
        });

        cluster.Subcommands.Add(show);
        cluster.Subcommands.Add(leave);
        cluster.Subcommands.Add(down);
        return cluster;
    }
}
