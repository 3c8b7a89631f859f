// Relay throughput on the loopback world: N messages injected over SMTP by K concurrent sessions into an in-process
// node with its default durable settings, delivered to sinks on loopback; then the same workload sent by the same
// injector straight to the sinks (the machine's limit for this injector). Writes JSON and Markdown.
//
//   dotnet run -c Release --project tests/AyTrack.Bench -- [--messages 2000] [--sessions 20] [--domains 50] [--size 4096] [--out bench-results]
//       [-- node configuration, e.g. --AyTrack:Settings:Timing:Threads=50]
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using AyTrack.LoopbackWorld;
using AyTrack.Node;
using MailKit.Net.Smtp;
using MimeKit;
using Microsoft.Extensions.DependencyInjection;

var settings = BenchSettings.Parse(args);
await using var world = LoopbackWorld.Create();
var sinks = Enumerable.Range(0, settings.Domains).Select(i => world.AddDomain($"d{i}.bench.test")).ToList();
var dataDir = Directory.CreateTempSubdirectory("aytrack-bench").FullName;

var app = NodeHost.Build([.. world.NodeArguments(dataDir), "--Logging:LogLevel:Default=Warning", "--Logging:LogLevel:AyTrack=Warning", .. settings.NodeArguments]);
await app.StartAsync();
var smtp = app.Services.GetRequiredService<NodeInfo>().SmtpEndpoint!;

Console.WriteLine($"AyTrack relay: {settings.Messages} messages of {settings.Size} bytes, {settings.Sessions} sessions, {settings.Domains} domains");
var relay = await RunAsync(settings, sinks, (_, _) => smtp);
await app.StopAsync();
await app.DisposeAsync();

foreach (var sink in sinks)
{
    sink.Reset();
}

Console.WriteLine("Direct to the sinks (injector limit)");
var direct = await RunAsync(settings, sinks, (domainIndex, _) => sinks[domainIndex].Endpoint);

var result = new
{
    machine = new { Environment.ProcessorCount, os = System.Runtime.InteropServices.RuntimeInformation.OSDescription, dotnet = Environment.Version.ToString() },
    workload = settings,
    aytrack = relay,
    direct,
    ratio = Math.Round(relay.EndToEndPerSecond / direct.EndToEndPerSecond, 3),
};
Directory.CreateDirectory(settings.Out);
var json = JsonSerializer.Serialize(result, new JsonSerializerOptions { WriteIndented = true });
await File.WriteAllTextAsync(Path.Combine(settings.Out, "relay.json"), json);
var markdown = new StringBuilder()
    .AppendLine("| run | messages | injection msg/s | end-to-end msg/s | accept p50 ms | accept p99 ms |")
    .AppendLine("|---|---|---|---|---|---|")
    .AppendLine(relay.Row("AyTrack relay"))
    .AppendLine(direct.Row("direct to sink"))
    .ToString();
await File.WriteAllTextAsync(Path.Combine(settings.Out, "relay.md"), markdown);
Console.WriteLine(markdown);
Console.WriteLine($"AyTrack / direct = {result.ratio}");
Directory.Delete(dataDir, true);

static async Task<RunResult> RunAsync(BenchSettings settings, IReadOnlyList<SmtpSink> sinks, Func<int, int, System.Net.IPEndPoint> target)
{
    var body = new string('x', 76) + "\r\n";
    var text = string.Concat(Enumerable.Repeat(body, Math.Max(1, settings.Size / body.Length)));
    var latencies = new double[settings.Messages];
    var next = -1;
    var clock = Stopwatch.StartNew();
    var sessions = Enumerable.Range(0, settings.Sessions).Select(async session =>
    {
        var clients = new Dictionary<System.Net.IPEndPoint, SmtpClient>();
        try
        {
            while (true)
            {
                var i = Interlocked.Increment(ref next);
                if (i >= settings.Messages)
                {
                    break;
                }

                var domain = i % settings.Domains;
                var endpoint = target(domain, session);
                if (!clients.TryGetValue(endpoint, out var client))
                {
                    client = new SmtpClient();
                    await client.ConnectAsync(endpoint.Address.ToString(), endpoint.Port, MailKit.Security.SecureSocketOptions.None);
                    clients[endpoint] = client;
                }

                var message = new MimeMessage();
                message.From.Add(MailboxAddress.Parse("bench@sender.test"));
                message.To.Add(MailboxAddress.Parse($"user{i}@d{domain}.bench.test"));
                message.Subject = $"bench {i}";
                message.Body = new TextPart("plain") { Text = text };
                var started = clock.Elapsed.TotalMilliseconds;
                await client.SendAsync(message);
                latencies[i] = clock.Elapsed.TotalMilliseconds - started;
            }
        }
        finally
        {
            foreach (var client in clients.Values)
            {
                await client.DisconnectAsync(true);
                client.Dispose();
            }
        }
    });
    await Task.WhenAll(sessions);
    var injected = clock.Elapsed;
    var perSink = Enumerable.Range(0, settings.Domains).Select(d => Enumerable.Range(0, settings.Messages).Count(i => i % settings.Domains == d)).ToList();
    await Task.WhenAll(sinks.Select((s, d) => s.WaitForAsync(perSink[d], TimeSpan.FromMinutes(10))));
    var delivered = clock.Elapsed;
    Array.Sort(latencies);
    return new RunResult(settings.Messages, Math.Round(settings.Messages / injected.TotalSeconds, 1),
        Math.Round(settings.Messages / delivered.TotalSeconds, 1), Math.Round(latencies[latencies.Length / 2], 2),
        Math.Round(latencies[(int)(latencies.Length * 0.99)], 2), Math.Round(delivered.TotalSeconds, 2));
}

internal sealed record RunResult(int Messages, double InjectionPerSecond, double EndToEndPerSecond, double AcceptP50Ms, double AcceptP99Ms, double Seconds)
{
    public string Row(string name) => $"| {name} | {Messages} | {InjectionPerSecond} | {EndToEndPerSecond} | {AcceptP50Ms} | {AcceptP99Ms} |";
}

internal sealed record BenchSettings(int Messages, int Sessions, int Domains, int Size, string Out)
{
    /// <summary>Extra node configuration after "--", e.g. -- --AyTrack:Settings:Timing:Threads=50.</summary>
    public string[] NodeArguments { get; init; } = [];

    public static BenchSettings Parse(string[] args)
    {
        string Value(string name, string fallback)
        {
            var i = Array.IndexOf(args, name);
            return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
        }

        var separator = Array.IndexOf(args, "--");
        return new BenchSettings(int.Parse(Value("--messages", "2000")), int.Parse(Value("--sessions", "20")),
            int.Parse(Value("--domains", "50")), int.Parse(Value("--size", "4096")), Value("--out", "bench-results"))
        {
            NodeArguments = separator < 0 ? [] : args[(separator + 1)..],
        };
    }
}
