using System.Collections.Concurrent;
using System.Diagnostics;
using AyTrack.Cli;
using AyTrack.Contracts;
using AyTrack.Loopback;
using AyTrack.Integration.Tests.Support;
using MailKit.Net.Smtp;
using Xunit;
using Xunit.Abstractions;

namespace AyTrack.Integration.Tests;

/// <summary>
/// Three node processes over one PostgreSQL on loopback: they form a cluster, share the domains, change settings
/// together, and lose no mail when one of them is SIGKILLed while mail flows.
/// </summary>
public sealed class ClusterTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(180);

    private static async Task<(int Exit, string Out, string Err)> CliAsync(TestCluster cluster, ClusterNode node, params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var exit = await AyTrackCli.RunAsync([.. args, "--url", node.Process.AdminUrl.ToString(), "--token", cluster.Token], stdout, stderr);
        return (exit, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public async Task Settings_and_pool_sizes_change_together_and_an_operator_sees_and_shrinks_the_cluster()
    {
        await using var world = LoopbackWorld.Create();
        // The split brain resolver waits long here, so that downing a crashed member is left to the operator.
        await using var cluster = await TestCluster.StartAsync(world, 3, "--AyTrack:Cluster:StableAfter=00:10:00",
            "--AyTrack:Listener:AllowPlaintextAuth=true");
        var (n1, n2, n3) = (cluster.Nodes[0], cluster.Nodes[1], cluster.Nodes[2]);

        // A submission user added through node 1 logs in on node 3's listener: users are cluster-wide.
        Assert.Equal(System.Net.HttpStatusCode.Created,
            (await n1.PostAsync("/api/users", new UserRequest("app@sender.test", "correct horse battery", null))).StatusCode);
        var plain = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes("\0app@sender.test\0correct horse battery"));
        await Eventually.UntilAsync(async () =>
        {
            await using var client = await RawSmtpClient.ConnectAsync(n3.SmtpEndpoint);
            await client.CommandAsync("EHLO client.test");
            return (await client.CommandAsync("AUTH PLAIN " + plain)).Code == 235;
        }, TimeSpan.FromSeconds(20));

        // An operator's pause of a site through node 1 holds on node 2 as well, and a resume through node 2 ends it on node 1.
        const string Site = "mx.paused.test";
        Assert.True((await n1.PostAsync($"/api/sites/{Site}/suspend", new SiteSuspendRequest("1h", "provider asked"))).IsSuccessStatusCode);
        await Eventually.UntilAsync(async () => (await n2.GetAsync<SitesView>("/api/sites")).Sites
            .Any(s => s.Site == Site && s.SuspendedUntil is not null && s.SuspendedBecause!.Contains("provider asked")), TimeSpan.FromSeconds(20));
        Assert.True((await n2.PostAsync($"/api/sites/{Site}/resume", new { })).IsSuccessStatusCode);
        await Eventually.UntilAsync(async () => (await n1.GetAsync<SitesView>("/api/sites")).Sites
            .Any(s => s.Site == Site && s.SuspendedUntil is null), TimeSpan.FromSeconds(20));

        // A change through node 1 is applied by node 3's own settings agent (its live pool follows).
        Assert.True((await n1.PatchAsync("/api/settings", """{"timing":{"threads":7}}""")).IsSuccessStatusCode);
        await Eventually.UntilAsync(async () => (await n3.GetAsync<List<NodeThreads>>("/api/threads"))
            .SingleOrDefault(t => t.Node == n3.Address) is { Setting: 7, Routees: 7 }, TimeSpan.FromSeconds(20));

        // `threads resize N` through node 2 resizes every node's pool; `--node` only one.
        Assert.Equal(0, (await CliAsync(cluster, n2, "threads", "resize", "12")).Exit);
        await Eventually.UntilAsync(async () => (await n1.GetAsync<List<NodeThreads>>("/api/threads")) is { Count: 3 } all &&
            all.All(t => t.Routees == 12), TimeSpan.FromSeconds(20));
        Assert.Equal(0, (await CliAsync(cluster, n1, "threads", "resize", "3", "--node", n3.Address)).Exit);
        await Eventually.UntilAsync(async () =>
        {
            var threads = await n2.GetAsync<List<NodeThreads>>("/api/threads");
            return threads.SingleOrDefault(t => t.Node == n3.Address)?.Routees == 3 &&
                   threads.Where(t => t.Node != n3.Address).All(t => t.Routees == 12);
        }, TimeSpan.FromSeconds(20));
        var listed = await CliAsync(cluster, n3, "threads");
        Assert.Contains(n3.Address, listed.Out);

        // Any node shows the whole membership and its own actor tree.
        var show = await CliAsync(cluster, n2, "cluster", "show");
        Assert.Equal(0, show.Exit);
        Assert.All(cluster.Nodes, n => Assert.Contains(n.Address, show.Out));
        var tree = await CliAsync(cluster, n3, "actor", "hierarchy");
        Assert.Contains("settings-agent", tree.Out);
        Assert.Contains("smtp-workers", tree.Out);

        // Node 3 leaves gracefully when asked through node 1: its process ends and the others see two members.
        var leave = await CliAsync(cluster, n1, "cluster", "leave", n3.Address);
        Assert.Equal(0, leave.Exit);
        await n3.Process.WaitForExitAsync(TimeSpan.FromSeconds(60));
        foreach (var remaining in new[] { n1, n2 })
        {
            await Eventually.UntilAsync(async () => (await remaining.GetAsync<ClusterView>("/api/cluster")).Members
                .Select(m => m.Address).Order().SequenceEqual(new[] { n1.Address, n2.Address }.Order()), TimeSpan.FromSeconds(30));
        }

        var unknown = await CliAsync(cluster, n1, "cluster", "leave", "akka.ssl.tcp://aytrack@127.0.0.1:1");
        Assert.NotEqual(0, unknown.Exit);
        Assert.Contains("address", unknown.Err);

        // Node 2 crashes. Node 1 sees it unreachable; the operator downs it instead of waiting for the resolver.
        Assert.Equal("no member is unreachable", (await CliAsync(cluster, n1, "cluster", "down-unreachable")).Out.Trim());
        await n2.Process.KillAsync();
        await Eventually.UntilAsync(async () => (await n1.GetAsync<ClusterView>("/api/cluster")).Members
            .Any(m => m.Address == n2.Address && !m.Reachable), TimeSpan.FromSeconds(60));
        var down = await CliAsync(cluster, n1, "cluster", "down-unreachable");
        Assert.Equal(0, down.Exit);
        Assert.Contains($"downed {n2.Address}", down.Out);
        await Eventually.UntilAsync(async () => (await n1.GetAsync<ClusterView>("/api/cluster")).Members
            .Select(m => m.Address).SequenceEqual([n1.Address]), TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task Mail_injected_through_all_nodes_arrives_when_one_node_is_SIGKILLed_while_it_flows()
    {
        const int count = 2_000;
        const int domains = 50;
        await using var world = LoopbackWorld.Create();
        var sinks = Enumerable.Range(0, domains).Select(d => world.AddDomain($"d{d}.cluster.test")).ToList();
        await using var cluster = await TestCluster.StartAsync(world, 3,
            "--AyTrack:Delivery:MinBackoff=00:00:01", "--AyTrack:Delivery:MaxBackoff=00:00:02");
        var victim = cluster.Nodes[0]; // the oldest: it hosts the config singleton and the shard coordinator

        // A setting made before the kill must survive the loss of the node that hosted the config actor.
        Assert.True((await victim.PatchAsync("/api/settings", """{"timing":{"retryDays":4}}""")).IsSuccessStatusCode);

        var sent = new ConcurrentDictionary<string, byte>();
        var next = -1;
        var killedAt = TimeSpan.Zero;
        var clock = Stopwatch.StartNew();
        var injection = Task.WhenAll(Enumerable.Range(0, 12).Select(async session =>
        {
            var preferred = cluster.Nodes[session % cluster.Nodes.Count];
            int i;
            while ((i = Interlocked.Increment(ref next)) < count)
            {
                var message = TestNode.NewMessage("app@sender.test", [$"user{i}@d{i % domains}.cluster.test"], $"message {i}");
                await SendWithFailoverAsync(cluster, preferred, message);
                sent[message.MessageId!] = 0;
                if (i == count / 2 && killedAt == TimeSpan.Zero)
                {
                    killedAt = clock.Elapsed;
                    await victim.Process.KillAsync();
                }
            }
        }));
        await injection;

        var survivor = cluster.Nodes[1];
        var received = await WaitForAllAsync(sinks, sent.Keys.ToHashSet(), Patience);
        var delivered = clock.Elapsed;
        var duplicates = received.Count - received.Distinct().Count();
        Assert.Empty(sent.Keys.Except(received));

        var settings = await cluster.Nodes[2].GetAsync<System.Text.Json.JsonElement>("/api/settings");
        Assert.Equal(4, settings.GetProperty("timing").GetProperty("retryDays").GetDouble());
        var view = await survivor.GetAsync<ClusterView>("/api/cluster");
        Assert.DoesNotContain(view.Members, m => m.Address == victim.Address);
        Assert.All(view.Members, m => Assert.True(m.Shards > 0, $"{m.Address} hosts no shard"));

        output.WriteLine($"{count} messages to {domains} domains through 3 nodes; node 1 SIGKILLed at {killedAt.TotalSeconds:F1} s; " +
                         $"all {sent.Count} delivered at {delivered.TotalSeconds:F1} s ({(delivered - killedAt).TotalSeconds:F1} s after the kill); " +
                         $"{duplicates} duplicate(s)");
    }

    /// <summary>
    /// Sends through the preferred node, or through another when it is gone. Only a 250 counts as sent; a message
    /// whose session broke before the reply is sent again (it may arrive twice, never not at all).
    /// </summary>
    private static async Task SendWithFailoverAsync(TestCluster cluster, ClusterNode preferred, MimeKit.MimeMessage message)
    {
        foreach (var node in cluster.Nodes.Where(n => n == preferred).Concat(cluster.Nodes.Where(n => n != preferred)))
        {
            if (node.Process.HasExited)
            {
                continue;
            }

            try
            {
                using var client = new SmtpClient();
                await client.ConnectAsync(node.SmtpEndpoint.Address.ToString(), node.SmtpEndpoint.Port, MailKit.Security.SecureSocketOptions.None);
                await client.SendAsync(message);
                await client.DisconnectAsync(true);
                return;
            }
            catch (Exception error) when (error is IOException or System.Net.Sockets.SocketException or MailKit.ServiceNotConnectedException
                                              or MailKit.ProtocolException or SmtpCommandException)
            {
                // The node died under us: try the next one.
            }
        }

        throw new InvalidOperationException("no node accepted the message");
    }

    private static async Task<List<string>> WaitForAllAsync(IReadOnlyList<SmtpSink> sinks, HashSet<string> expected, TimeSpan timeout)
    {
        var ids = new List<string>();
        var seen = new HashSet<string>();
        var read = new int[sinks.Count];
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            for (var s = 0; s < sinks.Count; s++)
            {
                var received = sinks[s].Received;
                for (; read[s] < received.Count; read[s]++)
                {
                    var id = received[read[s]].Parse().MessageId ?? string.Empty;
                    ids.Add(id);
                    seen.Add(id);
                }
            }

            if (expected.IsSubsetOf(seen) || deadline.Elapsed > timeout)
            {
                return ids;
            }

            await Task.Delay(200);
        }
    }
}

/// <summary>Configurations that could never share work are refused before anything starts.</summary>
public sealed class ClusterConfigurationTests
{
    [Fact]
    public void A_node_with_seed_nodes_and_the_embedded_sqlite_store_refuses_to_start()
    {
        var dataDir = Directory.CreateTempSubdirectory("aytrack-refuse").FullName;
        var error = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => AyTrack.Node.NodeHost.Build(
        [
            $"--AyTrack:DataDir={dataDir}", "--AyTrack:Cluster:Port=4053",
            "--AyTrack:Cluster:SeedNodes:0=akka.ssl.tcp://aytrack@127.0.0.1:4053",
        ]));

        Assert.Contains("AyTrack:Persistence:Provider", error.Message);
        Assert.Contains("PostgreSQL", error.Message);
    }

    [Fact]
    public void A_node_whose_seed_scheme_does_not_match_its_cluster_tls_setting_refuses_to_start_naming_the_key()
    {
        var dataDir = Directory.CreateTempSubdirectory("aytrack-refuse").FullName;
        var error = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => AyTrack.Node.NodeHost.Build(
        [
            $"--AyTrack:DataDir={dataDir}", "--AyTrack:Cluster:Port=4053", "--AyTrack:Persistence:Provider=postgresql",
            "--AyTrack:Persistence:ConnectionString=Host=127.0.0.1;Port=1;Database=none",
            "--AyTrack:Cluster:SeedNodes:0=akka.tcp://aytrack@127.0.0.1:4053",
        ]));

        Assert.Contains("AyTrack:Cluster:SeedNodes:0", error.Message);
        Assert.Contains("AyTrack:Cluster:Tls:Enabled is true", error.Message);
    }
}
