using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace AyTrack.LoopbackWorld;

/// <summary>What the harness needs from the machine: free loopback ports, signals to processes, running commands.</summary>
public static class LocalSystem
{
    /// <summary>
    /// A loopback port that is free now, for servers that cannot be told to take port 0 and report it (PostgreSQL,
    /// Akka.Remote seed addresses). Another process may take it before it is used; callers that can, retry.
    /// </summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
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
