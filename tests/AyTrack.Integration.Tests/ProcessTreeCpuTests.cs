using System.Diagnostics;
using AyTrack.Loopback;
using Xunit;

namespace AyTrack.Integration.Tests;

/// <summary>
/// The benchmark's CPU figure for Postfix comes from <see cref="ProcessTreeCpu"/>: the work of daemons the master has
/// started and reaped must be in it, as must that of daemons still running.
/// </summary>
public sealed class ProcessTreeCpuTests
{
    // About half a second of CPU for dash; the assertions ask for a fifth of that.
    private const string Busy = "i=0; while [ $i -lt 400000 ]; do i=$((i+1)); done";

    [Fact]
    public async Task A_reaped_child_and_a_running_grandchild_count_towards_their_ancestor()
    {
        using var parent = Process.Start(new ProcessStartInfo("sh", ["-c", $"sh -c '{Busy}'; echo reaped; sh -c 'read go; {Busy}; echo spun; sleep 60'"])
        {
            RedirectStandardOutput = true,
            RedirectStandardInput = true,
        })!;
        try
        {
            Assert.Equal("reaped", await parent.StandardOutput.ReadLineAsync());
            parent.Refresh();
            var own = parent.TotalProcessorTime;
            var afterReaped = ProcessTreeCpu.Read(parent.Id);
            Assert.True(afterReaped - own >= TimeSpan.FromSeconds(0.1), $"tree {afterReaped}, the shell itself {own}");

            // The second child starts its work when told, then sleeps, still running: its time counts while it lives.
            await parent.StandardInput.WriteLineAsync("go");
            await parent.StandardInput.FlushAsync();
            Assert.Equal("spun", await parent.StandardOutput.ReadLineAsync());
            var withRunning = ProcessTreeCpu.Read(parent.Id);
            Assert.True(withRunning - afterReaped >= TimeSpan.FromSeconds(0.1), $"tree {withRunning}, before the second child {afterReaped}");
        }
        finally
        {
            parent.Kill(entireProcessTree: true);
        }
    }
}
