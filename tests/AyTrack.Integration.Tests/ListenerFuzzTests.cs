using AyTrack.Integration.Tests.Support;
using AyTrack.Loopback;
using Xunit;
using Xunit.Abstractions;

namespace AyTrack.Integration.Tests;

/// <summary>
/// The session fuzzer with a fixed seed for a few seconds: every command it sends gets exactly one well-formed reply
/// (until the listener ends the session with 421 or 221), nothing logs a stack trace, and a normal message is still
/// accepted and delivered afterwards. The benchmark runs the same fuzzer for minutes (docs/security.md).
/// </summary>
public sealed class ListenerFuzzTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_fixed_seed_fuzzing_run_gets_a_reply_to_every_command_and_leaves_the_listener_working()
    {
        await using var world = LoopbackWorld.Create();
        var sink = world.AddDomain("alpha.test");
        var dataDir = Path.Combine(Path.GetTempPath(), "aytrack-fuzz-" + Guid.NewGuid().ToString("N"));
        // Short timeouts and a small memory budget, so the fuzzer's slow and large inputs reach those paths too.
        await using var node = await NodeProcess.StartAsync(dataDir,
        [
            .. world.NodeArguments(dataDir),
            "--AyTrack:Listener:MaxMessageSize=200000",
            "--AyTrack:Listener:MaxBufferedData=262144",
            "--AyTrack:Listener:CommandTimeout=00:00:05",
            "--AyTrack:Listener:DataTimeout=00:00:05",
        ]);

        var report = await new SmtpFuzzer(node.SmtpEndpoint, seed: 20261130).RunAsync(concurrency: 8, TimeSpan.FromSeconds(12));
        output.WriteLine(report.ToString());

        Assert.Empty(report.Failures);
        Assert.True(report.Commands > 500, $"the fuzzer sent only {report.Commands} commands: {report}");

        await using (var client = await RawSmtpClient.ConnectAsync(node.SmtpEndpoint))
        {
            await client.CommandAsync("EHLO client.test");
            await client.CommandAsync("MAIL FROM:<app@sender.test>");
            await client.CommandAsync("RCPT TO:<after-fuzz@alpha.test>");
            await client.CommandAsync("DATA");
            Assert.Equal(250, (await client.CommandAsync("Subject: after the fuzzer\r\n\r\nstill here\r\n.")).Code);
        }

        await Eventually.UntilAsync(() => sink.Received.Any(m => m.To.Contains("after-fuzz@alpha.test")), Patience);
        var logs = NodeProcess.ReadLogs(dataDir);
        Assert.DoesNotContain("   at ", logs);
        Assert.DoesNotContain("internal error", logs);
        // A normal start says nothing misleading (Akka.NET's proxy warns "after 30 seconds" within a second of start).
        Assert.DoesNotContain("failed to find an associated singleton", logs);
        Assert.False(node.HasExited);
    }
}
