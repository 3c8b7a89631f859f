using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using AyTrack.Contracts;

namespace AyTrack.Cli.Commands;

/// <summary>`aytrack threads [resize N [--node ADDRESS]]`: the SMTP worker pool of each node (/api/threads).</summary>
public static class ThreadsCommands
{
    public static Command Create(CliContext cli)
    {
        var threads = new Command("threads", "SMTP worker pool size per node (live routee count)");
        cli.Run(threads, async p =>
        {
            using var client = cli.Client(p);
            var nodes = await client.GetAsync<List<NodeThreads>>("/api/threads");
            cli.Output.Write(cli.WantsJson(p)
                ? JsonSerializer.Serialize(nodes, AdminClient.Json) + Environment.NewLine
                : Output.Table(["node", "routees", "setting", "override"], nodes.Select(n => (IReadOnlyList<string?>)
                    [n.Node, Output.Count(n.Routees), Output.Count(n.Setting), n.Override?.ToString(CultureInfo.InvariantCulture)])));
        });

        var size = new Argument<int>("size") { Description = "Sessions per node, 1-500" };
        var node = new Option<string?>("--node") { Description = "Only this node (its address), until the next settings change or restart" };
        var resize = new Command("resize", "Set timing.threads (every node), or override one node with --node") { size, node };
        cli.Run(resize, async p =>
        {
            using var client = cli.Client(p);
            var target = p.GetValue(node);
            await client.PostAsync<JsonElement>("/api/threads", new ThreadsRequest(p.GetValue(size), target));
            cli.Output.WriteLine(target is null
                ? $"timing.threads = {p.GetValue(size)} (every node resizes its pool)"
                : $"{target}: pool overridden to {p.GetValue(size)}");
        });

        threads.Subcommands.Add(resize);
        return threads;
    }
}
