using System.CommandLine;
using System.Text.Json;
using AyTrack.Contracts;

namespace AyTrack.Cli.Commands;

/// <summary>`aytrack suggest [EMAIL]`: the Suggest button (/api/settings/suggest).</summary>
public static class SuggestCommand
{
    public static Command Create(CliContext cli)
    {
        var email = new Argument<string?>("email") { Arity = ArgumentArity.ZeroOrOne, Description = "The sender address whose domain's DNS and autoconfig are asked too" };
        var suggest = new Command("suggest", "Find the external SMTP server from this machine's mail clients, DNS and autoconfig") { email };
        cli.Run(suggest, async p =>
        {
            using var client = cli.Client(p);
            var address = p.GetValue(email);
            var found = await client.GetAsync<List<SuggestionView>>(
                "/api/settings/suggest" + (address is null ? string.Empty : $"?email={Uri.EscapeDataString(address)}"));
            if (cli.WantsJson(p))
            {
                cli.Output.WriteLine(JsonSerializer.Serialize(found, AdminClient.Json));
                return;
            }

            if (found.Count == 0)
            {
                cli.Output.WriteLine("No SMTP server found in this machine's mail-client settings" +
                                     (address is null ? "; give an email address to ask DNS and autoconfig too." : $" or for {address}."));
                return;
            }

            cli.Output.Write(Output.Table(["host", "port", "tls", "username", "source"],
                found.Select(c => (IReadOnlyList<string?>)[c.Host, Output.Count(c.Port), c.Tls, c.Username, string.Join("; ", c.Sources)])));
            var best = found[0];
            cli.Output.WriteLine($"To use the first: aytrack settings set relay.host={best.Host} relay.port={best.Port} relay.tls={best.Tls}");
        });
        return suggest;
    }
}
