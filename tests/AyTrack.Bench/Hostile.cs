using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using AyTrack.Loopback;

/// <summary>
/// The listener under hostile load (issue: memory bounded by the limits, never by what a client sends):
///   hostile  N clients each sending a huge DATA, N each a huge command line, one client sending 25 MB slowly, and a
///            well-behaved client injecting 4 KB messages all the while: the node's peak resident memory above idle,
///            whether every client got its reply, and the well-behaved client's acceptance latency.
///   fuzz     the session fuzzer for minutes: failures, and the node's memory before and after.
/// </summary>
internal static class Hostile
{
    public static async Task<bool> RunAsync(BenchSettings settings, object machine)
    {
        await using var world = LoopbackWorld.Create();
        var sink = world.AddDomain("good.bench.test");
        var dataDir = Directory.CreateTempSubdirectory("aytrack-bench-hostile").FullName;
        Console.WriteLine($"hostile: {settings.Clients} × {settings.DataMb} MB DATA, {settings.Clients} × {settings.LineMb} MB command line, " +
                          $"{settings.SlowMb} MB at {settings.SlowKbps} KB/s, and a well-behaved client");
        await using var node = await NodeProcess.StartAsync(dataDir, [.. world.NodeArguments(dataDir), .. BenchOutput.QuietArguments, .. settings.NodeArguments]);

        // Idle: after a few messages, so the hot paths are loaded and the figure is what an attack adds.
        for (var i = 0; i < 20; i++)
        {
            await SendAsync(node.SmtpEndpoint, $"warm{i}@good.bench.test", 4096);
        }

        await Task.Delay(2000);
        var idleMb = node.MemoryMb;
        var peakMb = idleMb;
        using var stop = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                peakMb = Math.Max(peakMb, node.MemoryMb);
                await Task.Delay(50);
            }
        });

        var clock = Stopwatch.StartNew();
        var data = Enumerable.Range(0, settings.Clients).Select(_ => Task.Run(() => HugeDataAsync(node.SmtpEndpoint, settings.DataMb))).ToList();
        var lines = Enumerable.Range(0, settings.Clients).Select(_ => Task.Run(() => HugeLineAsync(node.SmtpEndpoint, settings.LineMb))).ToList();
        var slow = Task.Run(() => SlowAsync(node.SmtpEndpoint, settings.SlowMb, settings.SlowKbps));
        var attack = Task.WhenAll([.. data, .. lines, slow]);
        var latencies = new List<double>();
        var good = 0;
        while (!attack.IsCompleted)
        {
            var started = Stopwatch.GetTimestamp();
            if (await SendAsync(node.SmtpEndpoint, $"good{good}@good.bench.test", 4096))
            {
                latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }

            good++;
        }

        var replies = await attack;
        var attackSeconds = clock.Elapsed.TotalSeconds;
        await Task.Delay(3000);
        var afterMb = node.MemoryMb;
        stop.Cancel();
        await sampler;

        var delivered = await Arrived(sink, 20 + latencies.Count + (replies[^1] == 250 ? 1 : 0), TimeSpan.FromMinutes(5));
        var dataOk = replies.Take(settings.Clients).Count(code => code == 552);
        var lineOk = replies.Skip(settings.Clients).Take(settings.Clients).Count(code => code == 500);
        var slowOk = replies[^1] == 250;
        latencies.Sort();
        double Percentile(double p) => latencies.Count == 0 ? double.NaN : Math.Round(latencies[(int)Math.Min(latencies.Count - 1, p * latencies.Count)], 1);
        var result = new
        {
            machine,
            workload = new { settings.Clients, settings.DataMb, settings.LineMb, settings.SlowMb, settings.SlowKbps, node = settings.NodeArguments },
            idleMb,
            peakMb,
            peakAboveIdleMb = Math.Round(peakMb - idleMb, 1),
            afterMb,
            attackSeconds = Math.Round(attackSeconds, 1),
            hugeDataAnswered552 = dataOk,
            hugeLineAnswered500 = lineOk,
            slowAccepted = slowOk,
            wellBehavedAccepted = latencies.Count,
            wellBehavedTried = good,
            acceptP50Ms = Percentile(0.5),
            acceptP99Ms = Percentile(0.99),
            delivered,
        };
        var table = new StringBuilder()
            .AppendLine("| idle MB | peak MB | peak above idle MB | after MB | attack s | DATA clients answered 552 | line clients answered 500 | slow 25 MB accepted | well-behaved accepted | accept p50 ms | accept p99 ms |")
            .AppendLine("|---|---|---|---|---|---|---|---|---|---|---|")
            .AppendLine($"| {idleMb} | {peakMb} | {result.peakAboveIdleMb} | {afterMb} | {result.attackSeconds} | {dataOk}/{settings.Clients} | {lineOk}/{settings.Clients} | {slowOk} | {latencies.Count}/{good} | {result.acceptP50Ms} | {result.acceptP99Ms} |");
        await BenchOutput.WriteResultAsync(settings.Out, "hostile", result, table.ToString());
        node.Terminate();
        await node.WaitForExitAsync(TimeSpan.FromMinutes(2));
        return dataOk == settings.Clients && lineOk == settings.Clients && slowOk && latencies.Count == good;
    }

    public static async Task<bool> FuzzAsync(BenchSettings settings, object machine)
    {
        await using var world = LoopbackWorld.Create();
        var sink = world.AddDomain("alpha.test");
        var dataDir = Directory.CreateTempSubdirectory("aytrack-bench-fuzz").FullName;
        await using var node = await NodeProcess.StartAsync(dataDir, [.. world.NodeArguments(dataDir), .. BenchOutput.QuietArguments, .. settings.NodeArguments]);
        await SendAsync(node.SmtpEndpoint, "before@alpha.test", 4096);
        await Task.Delay(2000);
        var before = node.MemoryMb;
        Console.WriteLine($"fuzz: {settings.Minutes} min, {settings.Concurrency} sessions at once, seed {settings.Seed}; node at {before} MB");
        var fuzzer = new SmtpFuzzer(node.SmtpEndpoint, settings.Seed) { MaxJunkLine = 4_000_000, MaxBody = 30_000_000 };
        var report = await fuzzer.RunAsync(settings.Concurrency, TimeSpan.FromMinutes(settings.Minutes));
        var healthyAfter = await SendAsync(node.SmtpEndpoint, "after@alpha.test", 4096);
        await Task.Delay(5000);
        var after = node.MemoryMb;
        var result = new
        {
            machine,
            settings.Minutes,
            settings.Concurrency,
            settings.Seed,
            report.Sessions,
            report.Commands,
            report.Replies,
            report.ServerClosures,
            failures = report.Failures,
            memoryBeforeMb = before,
            memoryAfterMb = after,
            peakMb = node.PeakMemoryMb,
            healthyAfter,
            stackTracesInLog = NodeProcess.ReadLogs(dataDir).Split('\n').Count(l => l.StartsWith("   at ", StringComparison.Ordinal)),
        };
        await BenchOutput.WriteResultAsync(settings.Out, "fuzz", result, new StringBuilder()
            .AppendLine("| minutes | sessions | commands | replies | closed by 421/221 | failures | memory before MB | after MB | peak MB | delivery after |")
            .AppendLine("|---|---|---|---|---|---|---|---|---|---|")
            .AppendLine($"| {settings.Minutes} | {report.Sessions} | {report.Commands} | {report.Replies} | {report.ServerClosures} | {report.Failures.Count} | {before} | {after} | {result.peakMb} | {healthyAfter} |")
            .ToString());
        foreach (var failure in report.Failures)
        {
            Console.WriteLine("failure: " + failure);
        }

        node.Terminate();
        await node.WaitForExitAsync(TimeSpan.FromMinutes(2));
        return report.Failures.Count == 0 && healthyAfter && result.stackTracesInLog == 0;
    }

    private static async Task<int> Arrived(SmtpSink sink, int expected, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (sink.Received.Count < expected && clock.Elapsed < timeout)
        {
            await Task.Delay(50);
        }

        return sink.Received.Count;
    }

    /// <summary>One well-behaved message; true on 250.</summary>
    private static async Task<bool> SendAsync(IPEndPoint endpoint, string recipient, int size)
    {
        await using var client = await RawSmtpClient.StartDataAsync(endpoint, "app@sender.test", recipient);
        var body = new StringBuilder("Subject: well-behaved\r\n\r\n");
        while (body.Length < size)
        {
            body.Append('z', 76).Append("\r\n");
        }

        var ok = (await client.CommandAsync(body + ".")).Code == 250;
        await client.CommandAsync("QUIT");
        return ok;
    }

    private static async Task<int> HugeDataAsync(IPEndPoint endpoint, int megabytes)
    {
        var (tcp, stream, reader) = await OpenAsync(endpoint, "EHLO data.flood.test\r\nMAIL FROM:<app@sender.test>\r\nRCPT TO:<victim@good.bench.test>\r\nDATA\r\n", "354");
        using (tcp)
        using (reader)
        {
            await SendRepeatedAsync(stream, string.Concat(Enumerable.Repeat(new string('d', 78) + "\r\n", 800)), megabytes * 1_000_000L, bytesPerSecond: 0);
            return await FinishAsync(stream, reader, ".\r\n");
        }
    }

    private static async Task<int> HugeLineAsync(IPEndPoint endpoint, int megabytes)
    {
        var (tcp, stream, reader) = await OpenAsync(endpoint, "EHLO line.flood.test\r\n", "250 ");
        using (tcp)
        using (reader)
        {
            await WriteAsync(stream, "MAIL FROM:<");
            await SendRepeatedAsync(stream, new string('a', 64 * 1024), megabytes * 1_000_000L, bytesPerSecond: 0);
            return await FinishAsync(stream, reader, "@sender.test>\r\n");
        }
    }

    private static async Task<int> SlowAsync(IPEndPoint endpoint, int megabytes, int kilobytesPerSecond)
    {
        var (tcp, stream, reader) = await OpenAsync(endpoint, "EHLO slow.client.test\r\nMAIL FROM:<app@sender.test>\r\nRCPT TO:<slow@good.bench.test>\r\nDATA\r\n", "354");
        using (tcp)
        using (reader)
        {
            await WriteAsync(stream, "Subject: slow\r\n\r\n");
            await SendRepeatedAsync(stream, string.Concat(Enumerable.Repeat(new string('s', 78) + "\r\n", 100)), megabytes * 1_000_000L - 100_000,
                kilobytesPerSecond * 1000L);
            return await FinishAsync(stream, reader, ".\r\n");
        }
    }

    /// <summary>Connects, sends the opening commands in one go and reads until the line that starts with <paramref name="until"/>.</summary>
    private static async Task<(TcpClient, NetworkStream, StreamReader)> OpenAsync(IPEndPoint endpoint, string commands, string until)
    {
        var tcp = new TcpClient { NoDelay = true };
        await tcp.ConnectAsync(endpoint);
        var stream = tcp.GetStream();
        var reader = new StreamReader(stream, Encoding.ASCII);
        await reader.ReadLineAsync();
        await WriteAsync(stream, commands);
        while (await reader.ReadLineAsync() is { } line && !line.StartsWith(until, StringComparison.Ordinal))
        {
        }

        return (tcp, stream, reader);
    }

    /// <summary>Writes <paramref name="piece"/> until <paramref name="total"/> octets are sent, paced when a rate is given.</summary>
    private static async Task SendRepeatedAsync(NetworkStream stream, string piece, long total, long bytesPerSecond)
    {
        var bytes = Encoding.ASCII.GetBytes(piece);
        var clock = Stopwatch.StartNew();
        for (long sent = 0; sent < total; sent += bytes.Length)
        {
            await stream.WriteAsync(bytes);
            if (bytesPerSecond > 0 && TimeSpan.FromSeconds((double)sent / bytesPerSecond) is var due && due > clock.Elapsed)
            {
                await Task.Delay(due - clock.Elapsed);
            }
        }
    }

    private static async Task<int> FinishAsync(NetworkStream stream, StreamReader reader, string last)
    {
        await WriteAsync(stream, last);
        var reply = await reader.ReadLineAsync();
        return int.TryParse(reply?[..3], out var code) ? code : 0;
    }

    private static Task WriteAsync(NetworkStream stream, string text) => stream.WriteAsync(Encoding.ASCII.GetBytes(text)).AsTask();
}
