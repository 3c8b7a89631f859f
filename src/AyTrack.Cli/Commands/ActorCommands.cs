using System.CommandLine;
using System.Text;
using System.Text.Json;
using AyTrack.Contracts;

namespace AyTrack.Cli.Commands;

/// <summary>`aytrack actor hierarchy`: the node's live actor tree (/api/actors).</summary>
public static class ActorCommands
{
    public static Command Create(CliContext cli)
    {
        var actor = new Command("actor", "The node's actors");
        var hierarchy = new Command("hierarchy", "The live actor tree of the node");
        cli.Run(hierarchy, async p =>
        {
            using var client = cli.Client(p);
            var tree = await client.GetAsync<ActorNode>("/api/actors");
            if (cli.WantsJson(p))
            {
                cli.Output.WriteLine(JsonSerializer.Serialize(tree, AdminClient.Json));
                return;
            }

            var text = new StringBuilder();
            Print(tree, 0, text);
            cli.Output.Write(text.ToString());
        });

        actor.Subcommands.Add(hierarchy);
        return actor;
    }

    private static void Print(ActorNode node, int depth, StringBuilder text)
    {
        text.Append(new string(' ', depth * 2)).AppendLine(depth == 0 ? node.Path : node.Name);
        foreach (var child in node.Children)
        {
            Print(child, depth + 1, text);
        }
    }
}
