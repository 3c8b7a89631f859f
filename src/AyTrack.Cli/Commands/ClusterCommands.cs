using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using AyTrack.Contracts;
using AyTrack.Contracts.Cluster;

namespace AyTrack.Cli.Commands;

/// <summary>`aytrack cluster show | leave ADDRESS | down-unreachable`: membership (/api/cluster); `cluster cert`: TLS files.</summary>
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
        cluster.Subcommands.Add(CertCommands(cli));
        return cluster;
    }

    /// <summary>
    /// `aytrack cluster cert create-ca | create`: the files the cluster's mutual TLS needs, made here, on the operator's
    /// machine (no node is asked). Keys are written readable by their owner only.
    /// </summary>
    private static Command CertCommands(CliContext cli)
    {
        var cert = new Command("cert", "Make the certificates of the cluster's mutual TLS (no node is contacted)");

        var caOut = new Option<FileInfo>("--out") { Description = "Where to write the CA's certificate and key (PKCS#12); its certificate alone goes next to it as .crt", Required = true };
        var caName = new Option<string>("--name") { Description = "The CA's common name", DefaultValueFactory = _ => "AyTrack cluster CA" };
        var caPassword = new Option<string?>("--password") { Description = "Protect the PKCS#12 file with this password" };
        var createCa = new Command("create-ca", "Make a private CA for the cluster: give its .crt to every node as AyTrack:Cluster:Tls:CaPath") { caOut, caName, caPassword };
        cli.Run(createCa, p =>
        {
            var output = p.GetValue(caOut)!.FullName;
            var certificateFile = Path.ChangeExtension(output, ".crt");
            using var ca = ClusterCertificates.CreateCa(p.GetValue(caName)!, DateTimeOffset.UtcNow);
            ClusterCertificates.WritePkcs12(ca, output, p.GetValue(caPassword));
            ClusterCertificates.WritePem(ca, certificateFile);
            cli.Output.WriteLine($"CA {ca.Subject} (sha256 {ClusterCertificates.Sha256(ca)}), valid until {Output.Time(ca.NotAfter)}");
            cli.Output.WriteLine($"  key and certificate: {output} (keep it off the nodes)");
            cli.Output.WriteLine($"  certificate for AyTrack:Cluster:Tls:CaPath: {certificateFile}");
            return Task.CompletedTask;
        });

        var nodeOut = new Option<FileInfo>("--out") { Description = "Where to write the node's certificate and key (PKCS#12)", Required = true };
        var ca = new Option<FileInfo?>("--ca") { Description = "The CA (PKCS#12 from create-ca) that issues it; without: self-signed, to pin by thumbprint" };
        var caKeyPassword = new Option<string?>("--ca-password") { Description = "The password of the --ca file" };
        var name = new Option<string>("--name") { Description = "The node's host name or address (also a subject alternative name)", DefaultValueFactory = _ => Environment.MachineName };
        var alternativeNames = new Option<string[]>("--san") { Description = "More host names or addresses the node is reached at", AllowMultipleArgumentsPerToken = true };
        var nodePassword = new Option<string?>("--password") { Description = "Protect the PKCS#12 file with this password (AyTrack:Cluster:Tls:CertificatePassword)" };
        var create = new Command("create", "Make a node's certificate, issued by --ca or self-signed") { nodeOut, ca, caKeyPassword, name, alternativeNames, nodePassword };
        cli.Run(create, p =>
        {
            var output = p.GetValue(nodeOut)!.FullName;
            var caFile = p.GetValue(ca);
            if (caFile is { Exists: false })
            {
                throw new CliException($"{caFile.FullName} does not exist (make one with: aytrack cluster cert create-ca --out {caFile.Name})");
            }

            using var issuer = caFile is null ? null : LoadCa(caFile.FullName, p.GetValue(caKeyPassword));

            using var node = ClusterCertificates.CreateNode(p.GetValue(name)!, p.GetValue(alternativeNames) ?? [], issuer, DateTimeOffset.UtcNow);
            ClusterCertificates.WritePkcs12(node, output, p.GetValue(nodePassword));
            cli.Output.WriteLine($"{node.Subject}{(issuer is null ? " (self-signed)" : $" issued by {issuer.Subject}")}, valid until {Output.Time(node.NotAfter)}");
            cli.Output.WriteLine($"  {output}: AyTrack:Cluster:Tls:CertificatePath");
            cli.Output.WriteLine($"  sha256 {ClusterCertificates.Sha256(node)}: for AyTrack:Cluster:Tls:TrustedThumbprints when there is no CA");
            return Task.CompletedTask;
        });

        cert.Subcommands.Add(createCa);
        cert.Subcommands.Add(create);
        return cert;
    }

    private static System.Security.Cryptography.X509Certificates.X509Certificate2 LoadCa(string path, string? password)
    {
        System.Security.Cryptography.X509Certificates.X509Certificate2 ca;
        try
        {
            ca = ClusterCertificates.LoadPkcs12(path, password);
        }
        catch (System.Security.Cryptography.CryptographicException e)
        {
            throw new CliException($"{path} is not a readable PKCS#12 file ({e.Message.TrimEnd('.')}): give the .pfx that create-ca wrote, " +
                                   "with --ca-password if it has one");
        }

        if (!ca.HasPrivateKey)
        {
            ca.Dispose();
            throw new CliException($"{path} holds no private key: give the .pfx that create-ca wrote, not its .crt");
        }

        return ca;
    }
}
