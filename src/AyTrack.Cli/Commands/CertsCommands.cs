using System.CommandLine;
using System.Text.Json;
using AyTrack.Contracts;

namespace AyTrack.Cli.Commands;

/// <summary>
/// `aytrack certs list | add FILE [--kind Ca|Pinned] | remove SHA256 | last-refused [--pin]`: trust for the external
/// server (/api/certs).
/// </summary>
public static class CertsCommands
{
    public static Command Create(CliContext cli)
    {
        var certs = new Command("certs", "Certificates trusted for the external server beyond the system's");

        var list = new Command("list", "Trusted CAs and pinned server certificates");
        cli.Run(list, async p =>
        {
            using var client = cli.Client(p);
            var trusted = await client.GetAsync<List<TrustedCertificateView>>("/api/certs");
            cli.Output.Write(cli.WantsJson(p)
                ? JsonSerializer.Serialize(trusted, AdminClient.Json) + Environment.NewLine
                : Output.Table(["kind", "sha256", "subject", "not after"],
                    trusted.Select(c => (IReadOnlyList<string?>)[c.Kind, c.Sha256, c.Subject, Output.Time(c.NotAfter)])));
        });

        var file = new Argument<FileInfo>("file") { Description = "PEM file" };
        var kind = new Option<string>("--kind") { Description = "Ca (trust certificates it issued) or Pinned (trust exactly this one)", DefaultValueFactory = _ => "Ca" };
        var add = new Command("add", "Trust a certificate from a PEM file") { file, kind };
        cli.Run(add, async p =>
        {
            var path = p.GetValue(file)!;
            if (!path.Exists)
            {
                throw new CliException($"{path.FullName} does not exist");
            }

            using var client = cli.Client(p);
            var added = await client.PostAsync<TrustedCertificateView>("/api/certs",
                new TrustCertificateRequest(await File.ReadAllTextAsync(path.FullName), p.GetValue(kind), null));
            cli.Output.WriteLine($"trusted ({added.Kind}): {added.Subject} sha256 {added.Sha256}");
        });

        var fingerprint = new Argument<string>("sha256") { Description = "Fingerprint as listed" };
        var remove = new Command("remove", "Stop trusting a certificate") { fingerprint };
        cli.Run(remove, async p =>
        {
            using var client = cli.Client(p);
            await client.DeleteAsync($"/api/certs/{Uri.EscapeDataString(p.GetValue(fingerprint)!)}");
            cli.Output.WriteLine($"removed {p.GetValue(fingerprint)}");
        });

        var pin = new Option<bool>("--pin") { Description = "Pin it: trust exactly this certificate from now on (check its fingerprint first)" };
        var lastRefused = new Command("last-refused", "The certificate the external server presented when this node last refused it, with its PEM") { pin };
        cli.Run(lastRefused, async p =>
        {
            using var client = cli.Client(p);
            var refused = await client.GetAsync<RefusedCertificateView>("/api/certs/last-refused");
            if (p.GetValue(pin))
            {
                var pinned = await client.PostAsync<TrustedCertificateView>("/api/certs", new TrustCertificateRequest(refused.Pem, "Pinned", null));
                cli.Output.WriteLine($"pinned: {pinned.Subject} sha256 {pinned.Sha256}");
                return;
            }

            cli.Output.Write(cli.WantsJson(p)
                ? JsonSerializer.Serialize(refused, AdminClient.Json) + Environment.NewLine
                : $"""
                   host:       {refused.Host}
                   refused:    {Output.Time(refused.RefusedAt)} ({refused.Problem})
                   subject:    {refused.Subject}
                   issuer:     {refused.Issuer}
                   sha256:     {refused.Sha256}
                   valid:      {Output.Time(refused.NotBefore)} to {Output.Time(refused.NotAfter)}
                   {refused.Pem.TrimEnd()}

                   """);
        });

        certs.Subcommands.Add(list);
        certs.Subcommands.Add(add);
        certs.Subcommands.Add(remove);
        certs.Subcommands.Add(lastRefused);
        return certs;
    }
}
