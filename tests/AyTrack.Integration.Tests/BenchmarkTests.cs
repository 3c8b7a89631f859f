using System.Diagnostics;
using System.Text.Json;
using Xunit;
using Xunit.Abstractions;

namespace AyTrack.Integration.Tests;

/// <summary>
/// The benchmark harness in its tiny mode, as CI runs it: a few hundred messages through a node process and straight
/// to the sinks, and a few hundred queued for a down domain across a restart. It asserts that every message arrived
/// and every queued one was re-armed, never how fast: figures come from full runs (docs/performance.md).
/// </summary>
public sealed class BenchmarkTests(ITestOutputHelper output)
{
    [Fact]
    public async Task The_benchmark_in_tiny_mode_delivers_every_message_and_rearms_every_queued_one()
    {
        var results = Directory.CreateTempSubdirectory("aytrack-bench-results").FullName;
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in new[] { Path.Combine(AppContext.BaseDirectory, "AyTrack.Bench.dll"), "all", "--messages", "300", "--queued", "300",
                     "--domains", "10", "--out", results })
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(10));
        output.WriteLine(await stdout);
        output.WriteLine(await stderr);

        Assert.Equal(0, process.ExitCode);
        using var relay = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(results, "relay.json")));
        Assert.True(relay.RootElement.GetProperty("complete").GetBoolean());
        Assert.Equal(300, relay.RootElement.GetProperty("aytrack").GetProperty("received").GetInt32());
        Assert.Equal(300, relay.RootElement.GetProperty("direct").GetProperty("received").GetInt32());
        using var queued = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(results, "queued.json")));
        Assert.Equal(300, queued.RootElement.GetProperty("queued").GetProperty("accepted").GetInt32());
        Assert.True(File.Exists(Path.Combine(results, "relay.md")));
    }

    [Fact]
    public async Task The_hostile_load_benchmark_in_tiny_mode_gets_every_client_its_reply()
    {
        var results = Directory.CreateTempSubdirectory("aytrack-bench-hostile").FullName;
        var (exitCode, log) = await RunBenchAsync("hostile", "--clients", "2", "--data-mb", "3", "--line-mb", "3", "--slow-mb", "1", "--slow-kbps", "4096",
            "--out", results, "--", "--AyTrack:Listener:MaxMessageSize=1000000");
        output.WriteLine(log);

        Assert.Equal(0, exitCode);
        using var hostile = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(results, "hostile.json")));
        Assert.Equal(2, hostile.RootElement.GetProperty("hugeDataAnswered552").GetInt32());
        Assert.Equal(2, hostile.RootElement.GetProperty("hugeLineAnswered500").GetInt32());
        Assert.True(hostile.RootElement.GetProperty("slowAccepted").GetBoolean());
        Assert.True(hostile.RootElement.GetProperty("wellBehavedAccepted").GetInt32() > 0);
    }

    private static async Task<(int ExitCode, string Log)> RunBenchAsync(params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "AyTrack.Bench.dll"));
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(10));
        return (process.ExitCode, await stdout + await stderr);
    }
}
