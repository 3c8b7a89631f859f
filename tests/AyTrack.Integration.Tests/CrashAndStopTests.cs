using System.Diagnostics;
using AyTrack.Integration.Tests.Support;
using AyTrack.Loopback;
using MailKit.Net.Smtp;
using Xunit;
using Xunit.Abstractions;

namespace AyTrack.Integration.Tests;

/// <summary>
/// The node as a separate process, killed or stopped at awkward moments: no accepted message may be lost, and
/// deferred mail must resume after a restart without new mail arriving.
/// </summary>
public sealed class CrashAndStopTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task Mail_queued_while_the_destination_is_down_survives_SIGKILL_and_arrives_after_restart()
    {
        // Story: 300 messages for a domain whose MX is down are accepted; deliveries are being attempted and deferred
        // when the node is SIGKILLed. It restarts on the same data directory, the MX comes up, and every message
        // arrives, though no new mail wakes the domain.
        const int count = 300;
        await using var world = LoopbackWorld.Create();
        var mxAddress = world.AddDownHost("mx.later.test");
        world.Dns.AddMx("later.test", 10, "mx.later.test");
        var dataDir = Directory.CreateTempSubdirectory("aytrack-crash").FullName;
        string[] arguments = [.. world.NodeArguments(dataDir), "--AyTrack:Delivery:MinBackoff=00:00:01", "--AyTrack:Delivery:MaxBackoff=00:00:02"];

        var sent = new List<string>();
        await using (var node = await NodeProcess.StartAsync(dataDir, arguments))
        {
            sent.AddRange(await SendAsync(node, count, sessions: 4));
            await DeliveryLogReader.WaitForAsync(dataDir, "user0@later.test", Patience, outcome: "deferred");
            await node.KillAsync();
        }

        var clock = Stopwatch.StartNew();
        await using var restarted = await NodeProcess.StartAsync(dataDir, arguments);
        var ready = clock.Elapsed;
        var sink = world.BringUp("mx.later.test", mxAddress);

        var received = await sink.WaitForMessageIdsAsync(sent, Patience);
        var delivered = clock.Elapsed;

        var ids = received.Select(m => m.Parse().MessageId).ToList();
        Assert.Equal(count, sent.Distinct().Count());
        Assert.Empty(sent.Except(ids));
        output.WriteLine($"queued {count}, SIGKILLed, restart to healthy {ready.TotalSeconds:F1} s, all delivered {delivered.TotalSeconds:F1} s after restart, " +
                         $"{ids.Count - ids.Distinct().Count()} duplicate(s)");
    }

    [Fact]
    public async Task SIGTERM_finishes_the_transaction_in_DATA_refuses_new_sessions_and_loses_nothing()
    {
        await using var world = LoopbackWorld.Create();
        var mxAddress = world.AddDownHost("mx.later.test");
        world.Dns.AddMx("later.test", 10, "mx.later.test");
        var dataDir = Directory.CreateTempSubdirectory("aytrack-term").FullName;
        string[] arguments = [.. world.NodeArguments(dataDir), "--AyTrack:Delivery:MinBackoff=00:00:01", "--AyTrack:Delivery:MaxBackoff=00:00:02"];

        var sent = new List<string>();
        await using (var node = await NodeProcess.StartAsync(dataDir, arguments))
        {
            sent.AddRange(await SendAsync(node, 20, sessions: 2));

            // A client is in the middle of its data when the stop comes.
            await using var slow = await RawSmtpClient.ConnectAsync(node.SmtpEndpoint);
            await slow.CommandAsync("EHLO slow.test");
            await slow.CommandAsync("MAIL FROM:<app@sender.test>");
            await slow.CommandAsync("RCPT TO:<slow@later.test>");
            Assert.Equal(354, (await slow.CommandAsync("DATA")).Code);
            await slow.WriteAsync("Message-ID: <slow@sender.test>\r\nSubject: half way\r\n\r\nfirst half\r\n");

            node.Terminate();

            // New sessions are told to come back later while the transaction is still open.
            RawReply greeting;
            do
            {
                await using var late = await RawSmtpClient.ConnectAsync(node.SmtpEndpoint);
                greeting = late.Greeting;
            }
            while (greeting.Code == 220);
            Assert.Equal(421, greeting.Code);
            Assert.StartsWith("4.3.2 ", greeting.Text);

            var finished = await slow.CommandAsync("second half\r\n.");
            Assert.Equal(250, finished.Code);
            sent.Add("slow@sender.test");

            await node.WaitForExitAsync(Patience);
            Assert.Equal(0, node.ExitCode);
        }

        await using var restarted = await NodeProcess.StartAsync(dataDir, arguments);
        var sink = world.BringUp("mx.later.test", mxAddress);

        var received = await sink.WaitForMessageIdsAsync(sent, Patience);
        Assert.Empty(sent.Except(received.Select(m => m.Parse().MessageId)));
    }

    [Fact]
    public async Task A_normal_start_and_stop_logs_no_warning_and_no_dead_letter()
    {
        // What an operator reads after "systemctl restart": nothing that looks like a problem when there is none.
        await using var world = LoopbackWorld.Create();
        var sink = world.AddDomain("fine.test");
        var dataDir = Directory.CreateTempSubdirectory("aytrack-quiet").FullName;
        await using (var node = await NodeProcess.StartAsync(dataDir, world.NodeArguments(dataDir)))
        {
            await Eventually.UntilAsync(() => NodeProcess.ReadLogs(dataDir).Contains("Applying settings version 1"), Patience);
            var ids = await SendAsync(node, 1, sessions: 1, domain: "fine.test");
            await sink.WaitForMessageIdsAsync(ids, Patience);
            node.Terminate();
            await node.WaitForExitAsync(Patience);
            Assert.Equal(0, node.ExitCode);
        }

        var logs = NodeProcess.ReadLogs(dataDir);
        output.WriteLine(logs);
        Assert.Contains("AyTrack stopped", logs);
        var alarming = logs.Split('\n').Where(line =>
            line.Contains(" warn:", StringComparison.Ordinal) || line.Contains(" fail:", StringComparison.Ordinal) ||
            line.Contains(" crit:", StringComparison.Ordinal) || line.Contains("dead letter", StringComparison.OrdinalIgnoreCase)).ToList();
        Assert.Empty(alarming);
    }

    /// <summary>Sends <paramref name="count"/> messages to user{i}@<paramref name="domain"/> and returns their Message-IDs.</summary>
    private static async Task<IReadOnlyList<string>> SendAsync(NodeProcess node, int count, int sessions, string domain = "later.test")
    {
        var next = -1;
        var ids = new System.Collections.Concurrent.ConcurrentBag<string>();
        await Task.WhenAll(Enumerable.Range(0, sessions).Select(async _ =>
        {
            using var client = new SmtpClient();
            await client.ConnectAsync(node.SmtpEndpoint.Address.ToString(), node.SmtpEndpoint.Port, MailKit.Security.SecureSocketOptions.None);
            int i;
            while ((i = Interlocked.Increment(ref next)) < count)
            {
                var message = TestNode.NewMessage("app@sender.test", [$"user{i}@{domain}"], $"message {i}");
                await client.SendAsync(message);
                ids.Add(message.MessageId!);
            }

            await client.DisconnectAsync(true);
        }));
        return ids.ToList();
    }
}
