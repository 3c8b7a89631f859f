using System.Net.Sockets;
using System.Text.RegularExpressions;
using AyTrack.Integration.Tests.Support;
using AyTrack.Loopback;
using Xunit;

namespace AyTrack.Integration.Tests;

/// <summary>
/// A node out of file descriptors (EMFILE at accept()) backs off instead of spinning, logs it once per ten seconds
/// with a count, and serves again as soon as descriptors are free. Run in a child process with a low descriptor
/// limit, so nothing else in the test run is starved.
/// </summary>
public sealed partial class ListenerDescriptorTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Out_of_descriptors_the_listener_backs_off_logs_a_count_and_serves_again_once_they_are_free()
    {
        await using var world = LoopbackWorld.Create();
        var sink = world.AddDomain("alpha.test");
        var dataDir = Path.Combine(Path.GetTempPath(), "aytrack-emfile-" + Guid.NewGuid().ToString("N"));
        const int limit = 1024;
        await using var node = await NodeProcess.StartAsync(dataDir,
            [
                .. world.NodeArguments(dataDir), "--AyTrack:Listener:MaxConnections=5000", "--AyTrack:Listener:MaxConnectionsPerClient=5000",
                "--AyTrack:Storage:ProbeInterval=00:00:02",
            ],
            descriptorLimit: limit);

        // The start said that the limit does not fit the configuration, naming the key.
        Assert.Contains("AyTrack:Listener:MaxConnections=5000 needs about", NodeProcess.ReadLogs(dataDir));

        // A node that has been running: it has delivered, so its journal, shards and sessions are open.
        await SendAsync(node, "before@alpha.test");
        await sink.WaitForAsync(1, Patience);
        sink.Reset();

        // More connections than the node has descriptors left: the kernel completes them (the listen backlog), the
        // node's accept() fails with EMFILE once its table is full.
        var clients = new List<TcpClient>();
        try
        {
            var toOpen = limit - node.OpenDescriptors + 100;
            for (var i = 0; i < toOpen; i++)
            {
                var client = new TcpClient();
                await client.ConnectAsync(node.SmtpEndpoint);
                clients.Add(client);
            }

            await Eventually.UntilAsync(() => AcceptWarnings(node).Count >= 2, Patience);

            // Ten seconds apart at most once, each with the number of failed attempts: a back-off that grows to one
            // second makes that a handful, where a loop retrying at once would make it hundreds of thousands.
            var counts = AcceptWarnings(node);
            Assert.All(counts.Skip(1), count => Assert.InRange(count, 1, 30));
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }

        // Descriptors free again: the node greets, accepts and delivers.
        RawSmtpClient? fresh = null;
        await Eventually.UntilAsync(async () =>
        {
            if (fresh is not null)
            {
                await fresh.DisposeAsync();
            }

            try
            {
                fresh = await RawSmtpClient.ConnectAsync(node.SmtpEndpoint);
                return fresh.Greeting.Code == 220;
            }
            catch (IOException)
            {
                // Queued behind the flood's connections while they were being closed: a client tries again.
                fresh = null;
                return false;
            }
        }, Patience);
        await fresh!.DisposeAsync();
        await SendAsync(node, "after@alpha.test");

        Assert.Single(await sink.WaitForAsync(1, Patience));
        // Starved, the storage probe could not open the spool and said so; with descriptors back it is healthy again.
        using var http = node.CreateAdminClient();
        await Eventually.UntilAsync(async () => (await http.GetAsync("/healthz")).IsSuccessStatusCode, Patience);
        var logs = NodeProcess.ReadLogs(dataDir);
        Assert.True(!logs.Contains("   at ", StringComparison.Ordinal), logs);
    }

    private static async Task SendAsync(NodeProcess node, string recipient)
    {
        await using var client = await RawSmtpClient.StartDataAsync(node.SmtpEndpoint, "app@sender.test", recipient);
        Assert.Equal(250, (await client.CommandAsync("Subject: descriptors\r\n\r\nhi\r\n.")).Code);
    }

    private static IReadOnlyList<int> AcceptWarnings(NodeProcess node) =>
        AcceptWarning().Matches(NodeProcess.ReadLogs(node.DataDir)).Select(m => int.Parse(m.Groups[1].Value)).ToList();

    [GeneratedRegex(@"cannot accept connections: .*\((\d+) failed accept\(\) calls")]
    private static partial Regex AcceptWarning();
}
