using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using AyTrack.Cli;
using AyTrack.Integration.Tests.Support;
using AyTrack.Loopback;
using Xunit;
using Xunit.Abstractions;

namespace AyTrack.Integration.Tests;

/// <summary>deploy/local-cluster.sh as a newcomer runs it: three nodes come up, the CLI sees them, Ctrl-C stops all.</summary>
public sealed class LocalClusterScriptTests(ITestOutputHelper output)
{
    [Fact]
    public async Task The_local_cluster_script_starts_three_nodes_over_postgresql_and_Ctrl_C_stops_everything()
    {
        var script = Path.Combine(Repository.Root, "deploy", "local-cluster.sh");
        var basePort = FreePortRange();
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in new[] { script, "--base-port", basePort.ToString(), "--node-dll", Path.Combine(AppContext.BaseDirectory, "AyTrack.Node.dll") })
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var text = new StringBuilder();
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        process.OutputDataReceived += (_, e) =>
        {
            lock (text) { text.AppendLine(e.Data); }
            if (e.Data?.Contains("Press Ctrl-C") == true) { ready.TrySetResult(); }
        };
        process.ErrorDataReceived += (_, e) => { lock (text) { text.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await ready.Task.WaitAsync(TimeSpan.FromSeconds(180));
            string printed;
            lock (text) { printed = text.ToString(); }
            var dataDir = printed.Split('\n').Single(l => l.Contains("Data: ")).Split("Data: ")[1].Trim();
            for (var k = 1; k <= 3; k++)
            {
                Assert.Contains($"SMTP 127.0.0.1:{basePort + 10 + k}", printed);
                Assert.Contains($"admin http://127.0.0.1:{basePort + 20 + k}", printed);
            }

            // The CLI finds node 2 and its token through its data directory, as the script tells a newcomer to do.
            var stdout = new StringWriter();
            var exit = await AyTrackCli.RunAsync(["--data-dir", Path.Combine(dataDir, "node2"), "cluster", "show", "--url",
                $"http://127.0.0.1:{basePort + 22}"], stdout, new StringWriter());
            Assert.Equal(0, exit);
            Assert.Equal(3, stdout.ToString().Split('\n').Count(l => l.Contains("akka.ssl.tcp://aytrack@127.0.0.1:") && l.Contains(" Up ")));

            LocalSystem.Signal(process.Id, 2);
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(120));
            Assert.Equal(0, process.ExitCode);
            Assert.False(Directory.Exists(dataDir));
            foreach (var port in new[] { basePort, basePort + 11, basePort + 21, basePort + 22, basePort + 23 })
            {
                Assert.False(await AcceptsAsync(port), $"port {port} still accepts connections after Ctrl-C");
            }
        }
        finally
        {
            if (!process.HasExited)
            {
                LocalSystem.Signal(process.Id, 15);
                await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(120));
            }

            lock (text) { output.WriteLine(text.ToString()); }
        }
    }


    /// <summary>A base port whose PostgreSQL, remoting, SMTP and admin ports (base … base+23) are all free now.</summary>
    private static int FreePortRange() =>
        LocalSystem.FreePorts([0, .. Enumerable.Range(1, 3).SelectMany(k => new[] { k, 10 + k, 20 + k })]);

    private static async Task<bool> AcceptsAsync(int port)
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
