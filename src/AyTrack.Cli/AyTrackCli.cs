using System.CommandLine;
using AyTrack.Cli.Commands;

namespace AyTrack.Cli;

/// <summary>
/// The `aytrack` command palettes (in the manner of Petabridge's pbm): settings, threads, actor, cluster, queue,
/// certs, suggest, health. Each command calls one admin API endpoint; each group is declared in its own file.
/// </summary>
public static class AyTrackCli
{
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, TextReader? input = null)
    {
        var cli = new CliContext(output, error, input);
        var root = new RootCommand("aytrack: operate an AyTrack node (settings, threads, actors, cluster, queues)")
        {
            cli.Url, cli.Token, cli.DataDir, cli.Json,
        };
        root.Subcommands.Add(SettingsCommands.Create(cli));
        root.Subcommands.Add(ThreadsCommands.Create(cli));
        root.Subcommands.Add(ActorCommands.Create(cli));
        root.Subcommands.Add(ClusterCommands.Create(cli));
        root.Subcommands.Add(QueueCommands.Create(cli));
        root.Subcommands.Add(CertsCommands.Create(cli));
        root.Subcommands.Add(DkimCommands.Create(cli));
        root.Subcommands.Add(UsersCommands.Create(cli));
        root.Subcommands.Add(DeliveriesCommand.Create(cli));
        root.Subcommands.Add(SiteCommands.Create(cli));
        root.Subcommands.Add(SiteCommands.CreateShaping(cli));
        root.Subcommands.Add(SuggestCommand.Create(cli));
        root.Subcommands.Add(HealthCommand.Create(cli));

        return await root.Parse(args).InvokeAsync(new InvocationConfiguration { Output = output, Error = error });
    }
}
