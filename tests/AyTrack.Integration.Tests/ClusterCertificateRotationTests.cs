using AyTrack.Contracts;
using AyTrack.Contracts.Cluster;
using AyTrack.Integration.Tests.Support;
using AyTrack.Loopback;
using Xunit;

namespace AyTrack.Integration.Tests;

/// <summary>
/// docs/security.md's rotation with pinned thumbprints, node by node: every node trusts the old and the new
/// certificate, each switches to the new one in turn, then each drops the old one in turn. After every restart the
/// cluster is whole again: every node sees every member Up.
/// </summary>
public sealed class ClusterCertificateRotationTests
{
    [Fact]
    public async Task Rotating_from_one_pinned_certificate_to_another_node_by_node_keeps_the_cluster_formed()
    {
        await using var world = LoopbackWorld.Create();
        var certificates = Directory.CreateTempSubdirectory("aytrack-rotation").FullName;
        var (oldPath, oldThumbprint) = Make(certificates, "old");
        var (newPath, newThumbprint) = Make(certificates, "new");
        string[] TrustBoth() => ["--AyTrack:Cluster:Tls:CaPath=", $"--AyTrack:Cluster:Tls:TrustedThumbprints:0={oldThumbprint}",
            $"--AyTrack:Cluster:Tls:TrustedThumbprints:1={newThumbprint}"];

        await using var cluster = await TestCluster.StartAsync(world, 2, [.. TrustBoth(), $"--AyTrack:Cluster:Tls:CertificatePath={oldPath}"]);

        // Step 2 of the rotation: present the new certificate, one node at a time (old and new still trusted).
        await RestartAsync(cluster, world, 1, [.. TrustBoth(), $"--AyTrack:Cluster:Tls:CertificatePath={newPath}"]);
        await RestartAsync(cluster, world, 0, [.. TrustBoth(), $"--AyTrack:Cluster:Tls:CertificatePath={newPath}"]);

        // Step 3: trust only the new one, one node at a time.
        string[] newOnly = ["--AyTrack:Cluster:Tls:CaPath=", $"--AyTrack:Cluster:Tls:TrustedThumbprints:0={newThumbprint}",
            $"--AyTrack:Cluster:Tls:TrustedThumbprints:1={newThumbprint}", $"--AyTrack:Cluster:Tls:CertificatePath={newPath}"];
        await RestartAsync(cluster, world, 1, newOnly);
        await RestartAsync(cluster, world, 0, newOnly);

        foreach (var node in cluster.Nodes)
        {
            Assert.Equal(2, (await node.GetAsync<ClusterView>("/api/cluster")).Members.Count(m => m.Status == "Up"));
        }
    }

    [Fact]
    public async Task A_node_that_does_not_trust_its_seed_stops_with_exit_code_79_and_says_which_peer_and_why()
    {
        await using var world = LoopbackWorld.Create();
        await using var cluster = await TestCluster.StartAsync(world, 1);
        var seed = cluster.Nodes[0];
        var certificate = cluster.IssueCertificate("node2");
        var ownThumbprint = ClusterCertificates.Sha256(ClusterCertificates.LoadPkcs12(certificate, null));

        // Node 2's certificate is one the seed trusts (the cluster CA issued it), but node 2 pins only its own: its
        // handshake to the seed fails on its own side.
        var failed = await Assert.ThrowsAsync<InvalidOperationException>(() => cluster.StartNodeAsync(world, 2, LocalSystem.FreePort(),
            "--AyTrack:Cluster:Tls:CaPath=", $"--AyTrack:Cluster:Tls:TrustedThumbprints:0={ownThumbprint}", $"--AyTrack:Cluster:Tls:CertificatePath={certificate}"));

        Assert.Contains("exited with 79", failed.Message);
        var log = NodeProcess.ReadLogs(Path.Combine(cluster.Root, "node2"));
        Assert.Contains("Cluster TLS: refused peer", log);
        Assert.Contains("Stopping (exit code 79): a TLS handshake this node started with a cluster peer failed", log);
        Assert.Contains("is not in AyTrack:Cluster:Tls:TrustedThumbprints", log);
        Assert.True((await seed.GetAsync<ClusterView>("/api/cluster")).Members.All(m => m.Status == "Up"));
    }

    /// <summary>A graceful stop, then the same node (data directory and port) started again with these arguments.</summary>
    private static async Task RestartAsync(TestCluster cluster, LoopbackWorld world, int index, string[] arguments)
    {
        var leaving = cluster.Nodes[index];
        var other = cluster.Nodes[1 - index];
        leaving.Process.Terminate();
        await leaving.Process.WaitForExitAsync(TimeSpan.FromSeconds(90));
        await leaving.DisposeAsync();
        await Eventually.UntilAsync(async () => (await other.GetAsync<ClusterView>("/api/cluster")).Members.All(m => m.Address != leaving.Address),
            TimeSpan.FromSeconds(60));

        // A restarted first seed would form a cluster of its own: it joins through the node that stayed.
        cluster.Nodes[index] = await cluster.StartNodeAsync(world, leaving.Number, new Uri(leaving.Address).Port,
            [.. arguments, $"--AyTrack:Cluster:SeedNodes:0={other.Address}"]);
        foreach (var node in cluster.Nodes)
        {
            await Eventually.UntilAsync(async () => (await node.GetAsync<ClusterView>("/api/cluster")).Members.Count(m => m.Status == "Up") == 2,
                TimeSpan.FromSeconds(60));
        }
    }

    private static (string Path, string Thumbprint) Make(string directory, string name)
    {
        var path = Path.Combine(directory, name + ".pfx");
        using var certificate = ClusterCertificates.CreateNode("127.0.0.1", ["127.0.0.1"], null, DateTimeOffset.UtcNow);
        ClusterCertificates.WritePkcs12(certificate, path, null);
        return (path, ClusterCertificates.Sha256(certificate));
    }
}
