using System.CommandLine;
using System.Text.Json;
using AyTrack.Contracts;

namespace AyTrack.Cli.Commands;

/// <summary>
/// `aytrack queue show [DOMAIN] | messages DOMAIN [--limit N] | retry | hold | release | delete | bounce DOMAIN-OR-ID`:
/// queued mail per recipient domain (/api/queues), a domain's messages, and the operator's actions on a domain or one
/// message (/api/messages/ID/…).
/// </summary>
public static class QueueCommands
{
    private static readonly (string Verb, string What)[] Actions =
    [
        ("retry", "Try deferred mail now"), ("hold", "Stop trying (and expiring) until released"),
        ("release", "Undo a hold and try at once"), ("delete", "Drop without delivery or bounce"),
        ("bounce", "Give up now and send the sender a DSN"),
    ];

    public static Command Create(CliContext cli)
    {
        var queue = new Command("queue", "Queued mail per recipient domain");

        var domain = new Argument<string?>("domain") { Arity = ArgumentArity.ZeroOrOne, Description = "One domain only" };
        var show = new Command("show", "Pending, deferred, oldest, next attempt and last error per domain") { domain };
        cli.Run(show, async p =>
        {
            using var client = cli.Client(p);
            var one = p.GetValue(domain);
            var domains = one is null
                ? await client.GetAsync<QueuesView>("/api/queues")
                : new QueuesView(0, [await client.GetAsync<DomainQueue>($"/api/queues/{Uri.EscapeDataString(one)}")]);
            if (cli.WantsJson(p))
            {
                cli.Output.WriteLine(JsonSerializer.Serialize(domains, AdminClient.Json));
                return;
            }

            if (one is null)
            {
                cli.Output.WriteLine($"{domains.Undispatched} recipient(s) accepted and not yet handed to their domain");
            }

            cli.Output.Write(Output.Table(["domain", "pending", "deferred", "held", "bouncing", "sessions", "oldest", "next attempt", "category", "last error"],
                domains.Domains.Select(d => (IReadOnlyList<string?>)
                [
                    d.Domain, Output.Count(d.Pending), Output.Count(d.Deferred), Output.Count(d.Held), Output.Count(d.Bouncing),
                    Output.Count(d.Sessions), Output.Time(d.Oldest), Output.Time(d.NextAttempt), d.LastCategory, d.LastError,
                ])));
        });
        queue.Subcommands.Add(show);

        var messagesDomain = new Argument<string>("domain") { Description = "The recipient domain" };
        var limit = new Option<int>("--limit") { Description = "How many messages at most, oldest first (1-1000)", DefaultValueFactory = _ => 100 };
        var messages = new Command("messages", "A domain's queued messages, oldest first, with each recipient's state") { messagesDomain, limit };
        cli.Run(messages, async p =>
        {
            using var client = cli.Client(p);
            var list = await client.GetAsync<DomainMessages>(
                $"/api/queues/{Uri.EscapeDataString(p.GetValue(messagesDomain)!)}/messages?limit={p.GetValue(limit)}");
            if (cli.WantsJson(p))
            {
                cli.Output.WriteLine(JsonSerializer.Serialize(list, AdminClient.Json));
                return;
            }

            cli.Output.WriteLine($"{list.Total} message(s) queued for {list.Domain}{(list.Total > list.Messages.Count ? $", the oldest {list.Messages.Count} shown" : string.Empty)}");
            cli.Output.Write(Output.Table(["queue id", "arrived", "recipient", "state", "attempts", "next attempt", "category", "last reply"],
                list.Messages.SelectMany(m => m.Recipients.Select(r => (IReadOnlyList<string?>)
                [
                    m.Id, Output.Time(m.ArrivedAt), r.Address, r.Held ? $"{r.State} (held)" : r.State, Output.Count(r.Attempts), Output.Time(r.NextAttempt),
                    r.Category, r.LastReply,
                ]))));
        });
        queue.Subcommands.Add(messages);

        foreach (var (verb, what) in Actions)
        {
            queue.Subcommands.Add(Action(cli, verb, what));
        }

        return queue;
    }

    private static Command Action(CliContext cli, string verb, string what)
    {
        var target = new Argument<string>("domain|message-id") { Description = "A recipient domain, or a queue id from the delivery log" };
        var command = new Command(verb, what + " (a domain's mail, or one message)") { target };
        cli.Run(command, async p =>
        {
            using var client = cli.Client(p);
            var which = p.GetValue(target)!;
            // Queue ids are hexadecimal without dots; every domain has one.
            var path = which.Contains('.')
                ? $"/api/queues/{Uri.EscapeDataString(which)}/{verb}"
                : $"/api/messages/{Uri.EscapeDataString(which)}/{verb}";
            var result = await client.PostAsync<QueueActionResult>(path, new { });
            cli.Output.WriteLine(cli.WantsJson(p)
                ? JsonSerializer.Serialize(result, AdminClient.Json)
                : $"{result.Operation}: {result.Recipients} recipient(s) of {which}");
        });
        return command;
    }
}
