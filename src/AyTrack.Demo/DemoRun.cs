using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using AyTrack.Loopback;
using AyTrack.Node;
using Microsoft.Extensions.DependencyInjection;

namespace AyTrack.Demo;

/// <summary>
/// The demo: the loopback world (DNS and mail servers for a set of .test domains), a node configured for it,
/// a couple of thousand messages injected over SMTP, live progress per domain from the node's delivery log, then a
/// summary with throughput. Nothing leaves loopback: the world only answers for .test names with 127.x addresses
/// and the node runs with AllowedDestinations 127.0.0.0/8. Cleans up everything it started.
/// </summary>
public static class DemoRun
{
    public sealed record Options(int Messages, int Sessions, string Mode, bool Keep, TimeSpan Timeout);

    public static async Task<int> RunAsync(Options options, TextWriter output, bool live, CancellationToken cancellationToken)
    {
        var dataDir = Directory.CreateTempSubdirectory("aytrack-demo").FullName;
        await using var world = DemoWorld.Create();
        output.WriteLine($"Loopback world: DNS on {world.World.Dns.Endpoint}, {world.Domains.Count} recipient domains, " +
                         $"relay {world.Relay.Endpoint}; node data in {dataDir}");
        output.WriteLine(string.Join(Environment.NewLine, world.Domains.Select(d => $"  {d.Name,-20} {Describe(d.Behaviour)}")));

        var app = NodeHost.Build([.. world.NodeArguments(dataDir, options.Mode), "--Logging:LogLevel:Default=Critical"]);
        var clock = Stopwatch.StartNew();
        var progress = new Progress(world, dataDir);
        var exit = 1;
        try
        {
            await app.StartAsync(cancellationToken);
            var smtp = app.Services.GetRequiredService<NodeInfo>().SmtpEndpoint!;
            output.WriteLine($"Node started in {clock.Elapsed.TotalSeconds:F1} s: SMTP {smtp}, mode {options.Mode}. " +
                             $"Injecting {options.Messages} messages over {options.Sessions} SMTP sessions...");
            output.WriteLine();

            var plan = new InjectionPlan(options.Messages, options.Sessions, 2048, i => (world.Recipient(i), smtp)) { Sender = DemoWorld.Sender };
            var started = clock.Elapsed;
            var injection = SmtpInjector.RunAsync(plan, (i, ok) => progress.Injected(world.Recipient(i), ok), cancellationToken);
            var drawn = 0;
            var lastPlain = TimeSpan.Zero;
            while (true)
            {
                progress.ReadLog();
                var done = injection.IsCompleted && progress.Finished;
                if (live)
                {
                    drawn = Redraw(output, progress.Render(clock.Elapsed - started, injection.IsCompleted), drawn);
                }
                else if (done || clock.Elapsed - lastPlain >= TimeSpan.FromSeconds(5))
                {
                    lastPlain = clock.Elapsed;
                    output.WriteLine(progress.Line(clock.Elapsed - started));
                }

                if (done || clock.Elapsed - started > options.Timeout || cancellationToken.IsCancellationRequested)
                {
                    break;
                }

                await Task.Delay(250, CancellationToken.None);
            }

            var injected = await injection;
            var elapsed = clock.Elapsed - started;
            if (!live)
            {
                output.Write(progress.Render(elapsed, true));
            }

            output.WriteLine();
            output.WriteLine(progress.Summary(injected, elapsed));
            exit = progress.Finished ? 0 : 1;
            if (!progress.Finished)
            {
                output.WriteLine($"Not every message reached a final state within {options.Timeout.TotalSeconds:F0} s.");
            }
        }
        finally
        {
            await app.StopAsync(CancellationToken.None);
            await app.DisposeAsync();
            if (options.Keep)
            {
                output.WriteLine($"Node data kept in {dataDir} (delivery.log has one JSON line per attempt).");
            }
            else
            {
                Directory.Delete(dataDir, recursive: true);
            }
        }

        return exit;
    }

    private static string Describe(DemoBehaviour behaviour) => behaviour switch
    {
        DemoBehaviour.Healthy => "accepts everything",
        DemoBehaviour.Greylisting => $"greylists (450 4.7.1) for {DemoWorld.GreylistFor.TotalSeconds:F0} s, then accepts",
        DemoBehaviour.Picky => "refuses gone*@ recipients (550 5.1.1): DSNs go back to the sender",
        DemoBehaviour.Slow => $"takes {DemoWorld.SlowBy.TotalMilliseconds:F0} ms per message",
        DemoBehaviour.NullMx => "null MX (RFC 7505): accepts no mail",
        _ => behaviour.ToString(),
    };

    /// <summary>Redraws the table in place (ANSI cursor up), returning the number of lines drawn.</summary>
    private static int Redraw(TextWriter output, string text, int previousLines)
    {
        var buffer = new StringBuilder();
        if (previousLines > 0)
        {
            buffer.Append($"\u001b[{previousLines}A");
        }

        foreach (var line in text.TrimEnd('\n').Split('\n'))
        {
            buffer.Append("\u001b[2K").Append(line.TrimEnd('\r')).Append('\n');
        }

        output.Write(buffer.ToString());
        output.Flush();
        return text.TrimEnd('\n').Split('\n').Length;
    }

    /// <summary>Per-domain counts from what the injector was told and what the node's delivery log says.</summary>
    private sealed class Progress(DemoWorld world, string dataDir)
    {
        private readonly object _gate = new();
        private readonly Dictionary<string, Counts> _domains = world.Domains.ToDictionary(d => d.Name, _ => new Counts());
        private readonly Dictionary<string, string> _last = new(StringComparer.OrdinalIgnoreCase);
        private long _offset;
        private int _accepted;
        private int _refusedAtInjection;
        private int _dsnsDelivered;
        private int _failed;

        public bool Finished
        {
            get
            {
                lock (_gate)
                {
                    return _accepted > 0 && _domains.Values.Sum(c => c.Delivered + c.Bounced) == _accepted && _dsnsDelivered == _failed;
                }
            }
        }

        public void Injected(string recipient, bool ok)
        {
            lock (_gate)
            {
                if (ok)
                {
                    _accepted++;
                    _domains[recipient.Split('@')[1]].Accepted++;
                }
                else
                {
                    _refusedAtInjection++;
                }
            }
        }

        /// <summary>Reads the delivery log lines written since the last call.</summary>
        public void ReadLog()
        {
            var path = Path.Combine(dataDir, "delivery.log");
            if (!File.Exists(path))
            {
                return;
            }

            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            stream.Seek(_offset, SeekOrigin.Begin);
            using var reader = new StreamReader(stream);
            while (reader.ReadLine() is { } line)
            {
                if (!line.EndsWith('}'))
                {
                    break;
                }

                _offset += Encoding.UTF8.GetByteCount(line) + 1;
                using var entry = JsonDocument.Parse(line);
                var recipient = entry.RootElement.GetProperty("recipient").GetString()!;
                var outcome = entry.RootElement.GetProperty("outcome").GetString()!;
                if (outcome == "site")
                {
                    // A site's suspension or reduction (docs/shaping.md), not a recipient's outcome.
                    continue;
                }

                var host = entry.RootElement.TryGetProperty("mxHost", out var h) ? h.GetString() : null;
                Record(recipient, outcome, host);
            }
        }

        private void Record(string recipient, string outcome, string? host)
        {
            lock (_gate)
            {
                if (recipient.Equals(DemoWorld.Sender, StringComparison.OrdinalIgnoreCase))
                {
                    _dsnsDelivered += outcome == "delivered" ? 1 : 0;
                    return;
                }

                if (!_domains.TryGetValue(recipient.Split('@')[1], out var counts))
                {
                    return;
                }

                _last.TryGetValue(recipient, out var previous);
                if (previous == "deferred")
                {
                    counts.Deferred--;
                }

                switch (outcome)
                {
                    case "delivered":
                        counts.Delivered++;
                        counts.Relayed += host == "relay.demo.test" ? 1 : 0;
                        break;
                    case "deferred":
                        counts.Deferred++;
                        break;
                    case "failed":
                        // A permanent failure: the DSN ("bounced" in the log) follows.
                        break;
                    case "bounced":
                        counts.Bounced++;
                        _failed++;
                        break;
                }

                _last[recipient] = outcome;
            }
        }

        public string Line(TimeSpan elapsed)
        {
            lock (_gate)
            {
                return $"{elapsed.TotalSeconds,5:F1} s  accepted {_accepted}  delivered {_domains.Values.Sum(c => c.Delivered)}  " +
                       $"deferred {_domains.Values.Sum(c => c.Deferred)}  bounced {_domains.Values.Sum(c => c.Bounced)}  DSNs delivered {_dsnsDelivered}";
            }
        }

        public string Render(TimeSpan elapsed, bool injectionDone)
        {
            lock (_gate)
            {
                var text = new StringBuilder();
                text.AppendLine(CultureInfo.InvariantCulture, $"{(injectionDone ? "Injection done" : "Injecting")}, {elapsed.TotalSeconds:F1} s");
                text.AppendLine(CultureInfo.InvariantCulture, $"{"domain",-20} {"accepted",8} {"delivered",9} {"relayed",7} {"deferred",8} {"bounced",7}  progress");
                foreach (var (name, c) in _domains.Append(new KeyValuePair<string, Counts>("total", Total())))
                {
                    text.AppendLine(CultureInfo.InvariantCulture,
                        $"{name,-20} {c.Accepted,8} {c.Delivered,9} {c.Relayed,7} {c.Deferred,8} {c.Bounced,7}  {Bar(c.Delivered + c.Bounced, c.Accepted)}");
                }

                text.AppendLine(CultureInfo.InvariantCulture, $"DSNs delivered to {DemoWorld.Sender}: {_dsnsDelivered}");
                return text.ToString();
            }
        }

        public string Summary(InjectionResult injection, TimeSpan elapsed)
        {
            lock (_gate)
            {
                var total = Total();
                var final = total.Delivered + total.Bounced;
                return string.Create(CultureInfo.InvariantCulture,
                    $"""
                    Summary: {_accepted} messages accepted ({_refusedAtInjection} refused at injection), {total.Delivered} delivered ({total.Relayed} through the relay), {total.Bounced} bounced with {_dsnsDelivered} DSNs delivered to the sender.
                    Injection: {injection.PerSecond:F0} msg/s, acceptance p50 {injection.Percentile(0.5):F1} ms, p99 {injection.Percentile(0.99):F1} ms.
                    End to end: {final} messages in a final state after {elapsed.TotalSeconds:F1} s = {final / elapsed.TotalSeconds:F0} msg/s (including the greylisted domain's retries).
                    """);
            }
        }

        private Counts Total() => new()
        {
            Accepted = _domains.Values.Sum(c => c.Accepted),
            Delivered = _domains.Values.Sum(c => c.Delivered),
            Relayed = _domains.Values.Sum(c => c.Relayed),
            Deferred = _domains.Values.Sum(c => c.Deferred),
            Bounced = _domains.Values.Sum(c => c.Bounced),
        };

        private static string Bar(int done, int of)
        {
            const int width = 24;
            var filled = of == 0 ? 0 : Math.Min(width, done * width / of);
            return $"[{new string('#', filled)}{new string('.', width - filled)}] {(of == 0 ? 0 : done * 100 / of),3}%";
        }
    }

    private sealed class Counts
    {
        public int Accepted { get; set; }

        public int Delivered { get; set; }

        public int Relayed { get; set; }

        public int Deferred { get; set; }

        public int Bounced { get; set; }
    }
}
