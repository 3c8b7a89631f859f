using System.CommandLine;
using System.Text.Json;
using AyTrack.Contracts;

namespace AyTrack.Cli.Commands;

/// <summary>`aytrack certs list | add FILE [--kind Ca|Pinned] | remove SHA256`: trust for the external server (/api/certs).</summary>
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

        certs.Subcommands.Add(list);
        certs.Subcommands.Add(add);
        certs.Subcommands.Add(remove);
        return certs;
    }
}
