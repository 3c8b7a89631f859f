using System.Diagnostics;
using System.Net;
using System.Text.Json;

namespace AyTrack.Loopback;

/// <summary>
/// An AyTrack node as a separate operating-system process (the AyTrack.Node.dll built next to the caller), for what
/// only a real process shows: SIGKILL, SIGTERM, its own memory and CPU time. Its output goes to node-N.log in the
/// data directory.
/// </summary>
public sealed class NodeProcess : IAsyncDisposable
{
    private readonly Process _process;

    private NodeProcess(Process process, string dataDir, IPEndPoint smtp, Uri admin)
    {
        _process = process;
        DataDir = dataDir;
        SmtpEndpoint = smtp;
        AdminUrl = admin;
    }

    public string DataDir { get; }

    public IPEndPoint SmtpEndpoint { get; }

    public Uri AdminUrl { get; }

    public bool HasExited => _process.HasExited;

    /// <summary>CPU time the node has used so far (user and system).</summary>
    public TimeSpan CpuTime
    {
        get
        {
            _process.Refresh();
            return _process.TotalProcessorTime;
        }
    }

    /// <summary>Resident memory now (VmRSS), in MB.</summary>
    public double MemoryMb => ProcStatusMb("VmRSS:");

    /// <summary>The most resident memory the process has had (VmHWM), in MB.</summary>
    public double PeakMemoryMb => ProcStatusMb("VmHWM:");

    public int ExitCode => _process.ExitCode;

    /// <summary>File descriptors the node has open now (Linux /proc).</summary>
    public int OpenDescriptors => Directory.GetFiles($"/proc/{_process.Id}/fd").Length;

    /// <param name="descriptorLimit">When given, the node runs with this many file descriptors at most (ulimit -n).</param>
    public static async Task<NodeProcess> StartAsync(string dataDir, IEnumerable<string> arguments, int? descriptorLimit = null)
    {
        Directory.CreateDirectory(dataDir);
        var nodeFile = Path.Combine(dataDir, "node.json");
        File.Delete(nodeFile);
        var dll = Path.Combine(AppContext.BaseDirectory, "AyTrack.Node.dll");
        var start = new ProcessStartInfo(descriptorLimit is null ? "dotnet" : "bash")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (descriptorLimit is { } limit)
        {
            // exec keeps the process id, so signals, /proc and the log name still refer to the node itself.
            start.ArgumentList.Add("-c");
            start.ArgumentList.Add($"ulimit -n {limit} && exec dotnet \"$@\"");
            start.ArgumentList.Add("bash");
        }

        start.ArgumentList.Add(dll);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start)!;
        var log = new StreamWriter(Path.Combine(dataDir, $"node-{process.Id}.log")) { AutoFlush = true };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (log) { log.WriteLine(e.Data); } } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (log) { log.WriteLine(e.Data); } } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        while (!File.Exists(nodeFile))
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"the node exited with {process.ExitCode} before it was ready; see {dataDir}");
            }

            await Task.Delay(50, cts.Token);
        }

        var info = JsonDocument.Parse(await File.ReadAllTextAsync(nodeFile, cts.Token)).RootElement;
        var node = new NodeProcess(process, dataDir, IPEndPoint.Parse(info.GetProperty("smtp").GetString()!),
            new Uri(info.GetProperty("admin").GetString()!));
        using var http = new HttpClient { BaseAddress = node.AdminUrl };
        while (true)
        {
            try
            {
                if ((await http.GetAsync("/healthz", cts.Token)).IsSuccessStatusCode)
                {
                    break;
                }
            }
            catch (HttpRequestException)
            {
                // node.json is written once the admin port listens: a refused connection now means the node is going.
                await process.WaitForExitAsync(cts.Token);
            }

            if (process.HasExited)
            {
                await process.WaitForExitAsync(cts.Token);
                throw new InvalidOperationException($"the node exited with {process.ExitCode} before it was ready; see {dataDir}");
            }

            await Task.Delay(50, cts.Token);
        }

        return node;
    }

    /// <summary>What every node process that used this data directory logged (each writes node-&lt;pid&gt;.log there).</summary>
    public static string ReadLogs(string dataDir) => string.Join('\n', Directory.GetFiles(dataDir, "node-*.log").Select(file =>
    {
        using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        return new StreamReader(stream).ReadToEnd();
    }));

    /// <summary>An admin API client with the bearer token the node keeps in its data directory.</summary>
    public HttpClient CreateAdminClient() => new()
    {
        BaseAddress = AdminUrl,
        DefaultRequestHeaders = { Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer",
            File.ReadAllText(Path.Combine(DataDir, "admin.token")).Trim()) },
    };

    /// <summary>SIGKILL: the process dies at once, with no chance to clean up.</summary>
    public async Task KillAsync()
    {
        _process.Kill();
        await _process.WaitForExitAsync();
    }

    /// <summary>SIGTERM: the graceful stop an init system asks for.</summary>
    public void Terminate() => LocalSystem.Signal(_process.Id, 15);

    public Task WaitForExitAsync(TimeSpan timeout) => _process.WaitForExitAsync().WaitAsync(timeout);

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    private double ProcStatusMb(string field)
    {
        var line = File.ReadLines($"/proc/{_process.Id}/status").First(l => l.StartsWith(field, StringComparison.Ordinal));
        return Math.Round(long.Parse(line[field.Length..].Trim().Split(' ')[0]) / 1024.0, 1);
    }
}
