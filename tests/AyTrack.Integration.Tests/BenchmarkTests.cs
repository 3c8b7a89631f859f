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
}
