using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace AyTrack.Loopback;

/// <summary>What the harness needs from the machine: free loopback ports, signals to processes, running commands.</summary>
public static class LocalSystem
{
    private static readonly HashSet<int> HandedOut = [];

    /// <summary>
    /// A loopback port that is free now, for servers that cannot be told to take port 0 and report it (PostgreSQL,
    /// Akka.Remote seed addresses). It lies below the kernel's ephemeral range, so no outgoing connection of a node
    /// already running can be given it as its local port before the server binds it (a port from bind(0) could,
    /// and did: a third node failed to bind a port a second node's connection had taken meanwhile), and it is
    /// never handed out twice in this process, so tests running in parallel do not pick the same one.
    /// </summary>
    public static int FreePort() => FreePorts([0]);

    /// <summary>A base port such that base + each offset is free now, under the same rules as <see cref="FreePort"/>.</summary>
    public static int FreePorts(IReadOnlyCollection<int> offsets)
    {
        var ephemeralLow = EphemeralLow();
        var span = offsets.Max();
        for (var attempt = 0; attempt < 1_000; attempt++)
        {
            var candidate = Random.Shared.Next(10_000, ephemeralLow - span);
            lock (HandedOut)
            {
                if (offsets.Any(o => HandedOut.Contains(candidate + o)) || !offsets.All(o => IsFree(candidate + o)))
                {
                    continue;
                }

                foreach (var offset in offsets)
                {
                    HandedOut.Add(candidate + offset);
                }

                return candidate;
            }
        }

        throw new InvalidOperationException("no free loopback port found below the ephemeral range");
    }

    /// <summary>The lowest port the kernel gives outgoing connections (Linux's default when it cannot be read).</summary>
    private static int EphemeralLow()
    {
        try
        {
            return int.Parse(File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries)[0]);
        }
        catch (IOException)
        {
            return 32_768;
        }
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>Sends a signal (2 SIGINT, 15 SIGTERM) the way a terminal or an init system does.</summary>
    public static void Signal(int pid, int signal)
    {
        if (kill(pid, signal) != 0)
        {
            throw new InvalidOperationException($"kill({pid}, {signal}) failed with errno {Marshal.GetLastWin32Error()}");
        }
    }

    /// <summary>Runs a command to its end; a non-zero exit is an error with its output, unless <paramref name="throwOnFailure"/> is false.</summary>
    public static async Task RunAsync(string file, IEnumerable<string> arguments, bool throwOnFailure = true, CancellationToken cancellationToken = default)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetTempPath(),
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        if (process.ExitCode != 0 && throwOnFailure)
        {
            throw new InvalidOperationException(
                $"{Path.GetFileName(file)} {string.Join(' ', start.ArgumentList)} exited with {process.ExitCode}: {await stderr}{await stdout}");
        }
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);
}
