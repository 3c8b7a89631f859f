using System.CommandLine;
using System.Text.Json;
using AyTrack.Contracts;

namespace AyTrack.Cli.Commands;

/// <summary>
/// `aytrack dkim list | add DOMAIN --selector S [--algorithm rsa|ed25519] | dns DOMAIN | activate DOMAIN --selector S |
/// remove DOMAIN --selector S`: the cluster's DKIM signing keys (/api/dkim).
/// </summary>
public static class DkimCommands
{
    public static Command Create(CliContext cli)
    {
        var dkim = new Command("dkim", "DKIM signing keys: mail whose From domain (or a parent) has an active key is signed");

        var list = new Command("list", "Every key, active or waiting to be activated");
        cli.Run(list, async p =>
        {
            using var client = cli.Client(p);
            var keys = await client.GetAsync<List<DkimKeyView>>("/api/dkim");
            cli.Output.Write(cli.WantsJson(p)
                ? JsonSerializer.Serialize(keys, AdminClient.Json) + Environment.NewLine
                : Output.Table(["domain", "selector", "algorithm", "state", "created"],
                    keys.Select(k => (IReadOnlyList<string?>)[k.Domain, k.Selector, k.Algorithm, k.Active ? "signing" : "inactive", Output.Time(k.CreatedAt)])));
        });

        var domain = new Argument<string>("domain") { Description = "Signing domain, as in the From address (example.com)" };
        var selector = new Option<string>("--selector") { Description = "Selector: the DNS label the key is published under", Required = true };
        var algorithm = new Option<string>("--algorithm") { Description = "rsa (RSA-2048, rsa-sha256) or ed25519 (ed25519-sha256)", DefaultValueFactory = _ => "rsa" };
        var add = new Command("add", "Generate a key; it signs at once unless the domain already signs (then: publish, then activate)") { domain, selector, algorithm };
        cli.Run(add, async p =>
        {
            using var client = cli.Client(p);
            var added = await client.PostAsync<DkimKeyView>("/api/dkim", new DkimKeyRequest(p.GetValue(domain), p.GetValue(selector), p.GetValue(algorithm)));
            cli.Output.WriteLine(added.Active
                ? $"{added.Domain} now signs with {added.Selector} ({added.Algorithm}). Publish this record before sending:"
                : $"{added.Domain}: key {added.Selector} ({added.Algorithm}) added, inactive. Publish this record, then run " +
                  $"'aytrack dkim activate {added.Domain} --selector {added.Selector}':");
            cli.Output.WriteLine(added.ZoneLine);
        });

        var dnsDomain = new Argument<string>("domain") { Description = "Signing domain" };
        var dns = new Command("dns", "The TXT records to publish for a domain's keys, as zone-file lines") { dnsDomain };
        cli.Run(dns, async p =>
        {
            using var client = cli.Client(p);
            var keys = await client.GetAsync<List<DkimKeyView>>($"/api/dkim?domain={Uri.EscapeDataString(p.GetValue(dnsDomain)!)}");
            if (keys.Count == 0)
            {
                throw new CliException($"{p.GetValue(dnsDomain)} has no DKIM key (aytrack dkim add {p.GetValue(dnsDomain)} --selector NAME)");
            }

            foreach (var key in keys)
            {
                cli.Output.WriteLine(key.ZoneLine);
            }
        });

        var activate = new Command("activate", "Sign with this key from now on; the domain's other key of the algorithm stays until removed")
        {
            domain, selector,
        };
        cli.Run(activate, async p =>
        {
            using var client = cli.Client(p);
            await client.PostAsync<List<DkimKeyView>>($"/api/dkim/{Uri.EscapeDataString(p.GetValue(domain)!)}/{Uri.EscapeDataString(p.GetValue(selector)!)}/activate", new { });
            cli.Output.WriteLine($"{p.GetValue(domain)} signs with {p.GetValue(selector)}");
        });

        var remove = new Command("remove", "Delete a key (mail it signed no longer verifies once its DNS record is gone too)") { domain, selector };
        cli.Run(remove, async p =>
        {
            using var client = cli.Client(p);
            await client.DeleteAsync($"/api/dkim/{Uri.EscapeDataString(p.GetValue(domain)!)}/{Uri.EscapeDataString(p.GetValue(selector)!)}");
            cli.Output.WriteLine($"removed {p.GetValue(selector)} of {p.GetValue(domain)}");
        });

        dkim.Subcommands.Add(list);
        dkim.Subcommands.Add(add);
        dkim.Subcommands.Add(dns);
        dkim.Subcommands.Add(activate);
        dkim.Subcommands.Add(remove);
        return dkim;
    }
}
