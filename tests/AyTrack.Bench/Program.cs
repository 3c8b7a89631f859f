// The throughput benchmark (docs/performance.md). Two scenarios on the loopback world, the node as its own process
// (so its memory and CPU are its own) with its default durable settings (SQLite, fsync before 250):
//
//   relay   N messages of S bytes, one recipient each spread over D domains, injected over SMTP by K concurrent
//           sessions and delivered to sinks on loopback; then the same workload sent by the same injector straight
//           to the sinks (the physical limit on this machine), in the same run, and the ratio.
//   queued  Q messages for a domain whose MX is down: memory held once all are queued and deferred, and the time a
//           restarted node needs until it is ready and has re-armed every retry.
//   hostile the listener under attack (Hostile.cs): C clients each sending a DATA of --data-mb, C each a command line
//           of --line-mb, one sending --slow-mb at --slow-kbps, and a well-behaved client all the while: the node's
//           peak memory above idle, every client's reply, the well-behaved acceptance latency. [--clients 20]
//   fuzz    the session fuzzer (AyTrack.Loopback.SmtpFuzzer) for --minutes with --concurrency sessions and --seed:
//           failures, stack traces logged, memory before and after, and a delivery afterwards.
//
//   dotnet run -c Release --project tests/AyTrack.Bench -- [relay|queued|all] [--messages 10000] [--sessions 20]
//       [--domains 50] [--size 4096] [--queued 100000] [--queued-domains 1] [--warmup 0] [--postfix] [--no-reuse] [--tls]
//       [--postgres] [--dkim] [--out bench-results]
//       [-- node configuration, e.g. --AyTrack:Settings:Timing:Threads=50]
//
// --postfix also sends the relay workload through Debian's Postfix (root, apt-get install postfix) to the same sinks:
// the side-by-side figure the throughput target is stated against.
// --postgres runs the relay node on a PostgreSQL of its own (started as the cluster tests start it: Debian's
// postgresql package, a fresh cluster on a free port, fsync on) instead of the embedded SQLite: the cluster's store.
// --dkim signs every message the relay node accepts with one RSA-2048 key (added through /api/dkim for the injector's
// From domain): the DKIM variant of the throughput targets.
// --warmup W first sends W messages of the same workload through each path (AyTrack, direct, Postfix) and waits until
// they arrived, then measures: the steady state of a node that has been running, next to the default cold start
// (where .NET is still compiling the hot paths).
//
// Writes <out>/<scenario>.json and <out>/<scenario>.md. --messages 300 --queued 300 is the tiny mode CI runs.
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using AyTrack.Loopback;

var settings = BenchSettings.Parse(args);
Directory.CreateDirectory(settings.Out);
var machine = new
{
    cores = Environment.ProcessorCount,
    os = System.Runtime.InteropServices.RuntimeInformation.OSDescription,
    dotnet = Environment.Version.ToString(),
    cpu = File.Exists("/proc/cpuinfo")
        ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':')[1].Trim()
        : null,
};
var failed = false;
if (settings.Scenario is "relay" or "all")
{
    failed |= !await RelayAsync(settings, machine);
}

if (settings.Scenario is "queued" or "all")
{
    failed |= !await QueuedAsync(settings, machine);
}

if (settings.Scenario is "hostile")
{
    failed |= !await Hostile.RunAsync(settings, machine);
}

if (settings.Scenario is "fuzz")
{
    failed |= !await Hostile.FuzzAsync(settings, machine);
}

return failed ? 1 : 0;

static async Task<bool> RelayAsync(BenchSettings settings, object machine)
{
    await using var world = LoopbackWorld.Create();
    // --tls: every sink offers STARTTLS (a self-signed certificate; direct delivery is opportunistic), so each new
    // session costs a TLS handshake on both sides, as it does against real receivers.
    var sinks = Enumerable.Range(0, settings.Domains)
        .Select(i => world.AddDomain($"d{i}.bench.test", settings.Tls ? SmtpSink.CreateCertificate($"d{i}.bench.test") : null)).ToList();
    var dataDir = Directory.CreateTempSubdirectory("aytrack-bench").FullName;
    Console.WriteLine($"relay: {settings.Messages} messages of {settings.Size} bytes, {settings.Sessions} sessions, {settings.Domains} domains");

    RelayRun aytrack;
    string[] reuse = [];
    if (settings.NoReuse)
    {
        // Session reuse off for every site: the comparison docs/shaping.md and docs/performance.md report.
        var rules = Path.Combine(dataDir, "no-reuse.yaml");
        await File.WriteAllTextAsync(rules, "entries:\n  - name: no-reuse\n    match: default\n    idleConnectionTimeout: 0s\n");
        reuse = [$"--AyTrack:Delivery:ShapingPath={rules}"];
        Console.WriteLine("session reuse off");
    }

    await using var postgres = settings.Postgres ? await PostgresServer.StartAsync() : null;
    string[] store = postgres is null
        ? []
        : ["--AyTrack:Persistence:Provider=postgresql", $"--AyTrack:Persistence:ConnectionString={await postgres.CreateDatabaseAsync("bench")}"];
    if (postgres is not null)
    {
        Console.WriteLine("store: PostgreSQL");
    }

    await using (var node = await NodeProcess.StartAsync(dataDir, [.. world.NodeArguments(dataDir), .. Quiet, .. reuse, .. store, .. settings.NodeArguments]))
    {
        if (settings.Dkim)
        {
            // One RSA-2048 key for the injector's From domain: every message is signed before its 250.
            using var http = new HttpClient { BaseAddress = node.AdminUrl };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", (await File.ReadAllTextAsync(Path.Combine(dataDir, "admin.token"))).Trim());
            (await http.PostAsJsonAsync("/api/dkim", new { domain = "sender.test", selector = "bench", algorithm = "rsa" })).EnsureSuccessStatusCode();
            Console.WriteLine("DKIM: every message signed with one RSA-2048 key");
        }

        await WarmUpAsync(settings, sinks, _ => node.SmtpEndpoint);
        var cpuBefore = node.CpuTime;
        aytrack = await RunRelayAsync(settings, sinks, i => node.SmtpEndpoint);
        aytrack = aytrack with
        {
            PeakMemoryMb = node.PeakMemoryMb,
            CpuSecondsPer1000 = Math.Round((node.CpuTime - cpuBefore).TotalSeconds / (settings.Messages / 1000.0), 2),
        };
        node.Terminate();
        await node.WaitForExitAsync(TimeSpan.FromMinutes(2));
    }

    foreach (var sink in sinks)
    {
        sink.Reset();
    }

    await WarmUpAsync(settings, sinks, i => sinks[i % settings.Domains].Endpoint);
    var direct = await RunRelayAsync(settings, sinks, i => sinks[i % settings.Domains].Endpoint);

    // Postfix side by side: the same workload through Debian's Postfix (its queue fsynced as always) to the same sinks.
    RelayRun? postfix = null;
    if (settings.Postfix)
    {
        foreach (var sink in sinks)
        {
            sink.Reset();
        }

        await using var relay = await PostfixRelay.StartAsync(
            Enumerable.Range(0, settings.Domains).Select(d => ($"d{d}.bench.test", sinks[d].Endpoint)).ToList());
        var postfixEndpoint = new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, PostfixRelay.Port);
        await WarmUpAsync(settings, sinks, _ => postfixEndpoint);
        var postfixCpuBefore = relay.CpuTime;
        postfix = await RunRelayAsync(settings, sinks, _ => postfixEndpoint);
        postfix = postfix with { CpuSecondsPer1000 = Math.Round((relay.CpuTime - postfixCpuBefore).TotalSeconds / (settings.Messages / 1000.0), 2) };
    }

    var ratio = Math.Round(aytrack.EndToEndPerSecond / direct.EndToEndPerSecond, 3);
    var versusPostfix = postfix is null ? (double?)null : Math.Round(aytrack.EndToEndPerSecond / postfix.EndToEndPerSecond, 2);
    var complete = aytrack.Received == settings.Messages && direct.Received == settings.Messages && (postfix?.Received ?? settings.Messages) == settings.Messages;
    var table = new StringBuilder()
        .AppendLine("| run | messages | received | injection msg/s | end-to-end msg/s | accept p50 ms | accept p99 ms | peak memory MB | CPU s / 1,000 msgs | harness CPU s / 1,000 msgs |")
        .AppendLine("|---|---|---|---|---|---|---|---|---|---|")
        .AppendLine(aytrack.Row("AyTrack relay"))
        .AppendLine(direct.Row("injector straight to the sinks"));
    if (postfix is not null)
    {
        table.AppendLine(postfix.Row("Postfix relay (same workload)"));
    }

    table.AppendLine().AppendLine($"AyTrack end to end / physical limit = {ratio}");
    if (versusPostfix is not null)
    {
        table.AppendLine($"AyTrack end to end / Postfix end to end = {versusPostfix}");
    }

    await WriteAsync(settings.Out, "relay", new { machine, workload = settings, aytrack, direct, postfix, ratio, versusPostfix, complete }, table.ToString());
    Directory.Delete(dataDir, recursive: true);
    return complete;
}

static async Task WarmUpAsync(BenchSettings settings, IReadOnlyList<SmtpSink> sinks, Func<int, System.Net.IPEndPoint> target)
{
    if (settings.Warmup <= 0)
    {
        return;
    }

    var warm = await RunRelayAsync(settings with { Messages = settings.Warmup }, sinks, target);
    if (warm.Received != settings.Warmup)
    {
        throw new InvalidOperationException($"warm-up: {warm.Received} of {settings.Warmup} messages arrived");
    }

    foreach (var sink in sinks)
    {
        sink.Reset();
    }
}

static async Task<RelayRun> RunRelayAsync(BenchSettings settings, IReadOnlyList<SmtpSink> sinks, Func<int, System.Net.IPEndPoint> target)
{
    var plan = new InjectionPlan(settings.Messages, settings.Sessions, settings.Size,
        i => ($"user{i}@d{i % settings.Domains}.bench.test", target(i)));
    // The harness (injector, sinks, DNS) runs in this process: its CPU per message, next to the relay's, is what one
    // SMTP client and one SMTP server cost per message on this machine; the injector straight to the sinks is that
    // alone, a floor for a relay that is a server on one side and a client on the other.
    var harnessCpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
    var clock = Stopwatch.StartNew();
    var injection = await SmtpInjector.RunAsync(plan);
    var deadline = TimeSpan.FromMinutes(30);
    while (sinks.Sum(s => s.Received.Count) < injection.Accepted && clock.Elapsed < deadline)
    {
        await Task.Delay(10);
    }

    var endToEnd = clock.Elapsed;
    var received = sinks.Sum(s => s.Received.Count);
    return new RelayRun(settings.Messages, injection.Accepted, received, Math.Round(injection.PerSecond, 1),
        Math.Round(received / endToEnd.TotalSeconds, 1), Math.Round(injection.Percentile(0.5), 2), Math.Round(injection.Percentile(0.99), 2),
        Math.Round(endToEnd.TotalSeconds, 2))
    {
        HarnessCpuSecondsPer1000 = Math.Round((Process.GetCurrentProcess().TotalProcessorTime - harnessCpuBefore).TotalSeconds / (settings.Messages / 1000.0), 2),
    };
}

static async Task<bool> QueuedAsync(BenchSettings settings, object machine)
{
    await using var world = LoopbackWorld.Create();
    var down = world.AddDownHost("mx.down.bench.test");
    world.Dns.AddMx("down.bench.test", 10, "mx.down.bench.test");
    // --queued-domains N: N domains, each with its own MX host name (so each is its own site), all on one address
    // where nothing listens; the messages go round-robin to them.
    var domains = Enumerable.Range(0, settings.QueuedDomains)
        .Select(i => settings.QueuedDomains == 1 ? "down.bench.test" : $"d{i}.down.bench.test").ToList();
    foreach (var domain in domains.Where(d => d != "down.bench.test"))
    {
        world.Dns.AddMx(domain, 10, "mx." + domain);
        world.Dns.AddAddress("mx." + domain, down);
    }

    var dataDir = Directory.CreateTempSubdirectory("aytrack-bench-queued").FullName;
    string[] arguments = [.. world.NodeArguments(dataDir), .. Quiet, .. settings.NodeArguments];
    Console.WriteLine($"queued: {settings.Queued} messages of {settings.Size} bytes for {domains.Count} domain(s) whose MX refuse connections");

    QueuedRun run;
    await using (var node = await NodeProcess.StartAsync(dataDir, arguments))
    {
        var plan = new InjectionPlan(settings.Queued, settings.Sessions, settings.Size, i => ($"user{i}@{domains[i % domains.Count]}", node.SmtpEndpoint));
        var injection = await SmtpInjector.RunAsync(plan);
        var queuedClock = Stopwatch.StartNew();
        await WaitForQueueAsync(node, dataDir, injection.Accepted, TimeSpan.FromMinutes(30));
        run = new QueuedRun(settings.Queued, injection.Accepted, Math.Round(injection.PerSecond, 1), Math.Round(queuedClock.Elapsed.TotalSeconds, 1),
            node.MemoryMb, node.PeakMemoryMb, 0, 0, 0)
        {
            ManagedHeapMb = await ManagedHeapMbAsync(node, dataDir),
        };
        var stopClock = Stopwatch.StartNew();
        node.Terminate();
        await node.WaitForExitAsync(TimeSpan.FromMinutes(5));
        run = run with { StopSeconds = Math.Round(stopClock.Elapsed.TotalSeconds, 1) };
    }

    var restartClock = Stopwatch.StartNew();
    await using (var restarted = await NodeProcess.StartAsync(dataDir, arguments))
    {
        var ready = restartClock.Elapsed;
        await WaitForQueueAsync(restarted, dataDir, run.Accepted, TimeSpan.FromMinutes(30));
        run = run with
        {
            RestartToReadySeconds = Math.Round(ready.TotalSeconds, 1),
            RestartToRetriesArmedSeconds = Math.Round(restartClock.Elapsed.TotalSeconds, 1),
            MemoryAfterRestartMb = restarted.MemoryMb,
        };
        restarted.Terminate();
        await restarted.WaitForExitAsync(TimeSpan.FromMinutes(5));
    }

    await WriteAsync(settings.Out, "queued", new { machine, workload = settings, queued = run },
        new StringBuilder()
            .AppendLine("| messages queued | injection msg/s | queued and deferred after | memory held MB (RSS) | of it the managed heap MB | peak MB | stop s | restart to ready s | restart to every retry armed s | memory after restart MB |")
            .AppendLine("|---|---|---|---|---|---|---|---|---|---|")
            .AppendLine($"| {run.Accepted} | {run.InjectionPerSecond} | {run.QueuedAfterSeconds} s | {run.MemoryHeldMb} | {run.ManagedHeapMb} | {run.PeakMemoryMb} | {run.StopSeconds} | {run.RestartToReadySeconds} | {run.RestartToRetriesArmedSeconds} | {run.MemoryAfterRestartMb} |")
            .ToString());
    Directory.Delete(dataDir, recursive: true);
    return run.Accepted == settings.Queued;
}

// Every accepted message is in the domain's queue, deferred (its first attempt failed: connection refused), with the
// retry timer armed (a next attempt time).
// Deferred recipients on the node: every domain actor's figures as /metrics sums them (each reports within a second
// of a change; a deferred recipient has its retry armed), so any number of domains is read in one request.
static async Task<long> DeferredAsync(HttpClient http)
{
    var metrics = await http.GetStringAsync("/metrics");
    var line = metrics.Split('\n').FirstOrDefault(l => l.StartsWith("aytrack_queue_recipients{state=\"deferred\"}", StringComparison.Ordinal));
    return line is null ? 0 : (long)double.Parse(line[(line.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
}

// The node's live managed objects after a full collection is not forced: prometheus-net's dotnet_total_memory_bytes
// (GC.GetTotalMemory(false)), so the resident figure can be split into what the queue holds and what the runtime keeps.
static async Task<double> ManagedHeapMbAsync(NodeProcess node, string dataDir)
{
    using var http = new HttpClient { BaseAddress = node.AdminUrl };
    http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", (await File.ReadAllTextAsync(Path.Combine(dataDir, "admin.token"))).Trim());
    var metrics = await http.GetStringAsync("/metrics");
    var line = metrics.Split('\n').FirstOrDefault(l => l.StartsWith("dotnet_total_memory_bytes ", StringComparison.Ordinal));
    return line is null ? 0 : Math.Round(double.Parse(line[(line.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture) / (1024 * 1024), 1);
}

static async Task WaitForQueueAsync(NodeProcess node, string dataDir, int expected, TimeSpan timeout)
{
    using var http = new HttpClient { BaseAddress = node.AdminUrl };
    http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", (await File.ReadAllTextAsync(Path.Combine(dataDir, "admin.token"))).Trim());
    var clock = Stopwatch.StartNew();
    while (clock.Elapsed < timeout)
    {
        if (await DeferredAsync(http) == expected)
        {
            return;
        }

        await Task.Delay(100);
    }

    throw new TimeoutException($"the queue did not reach {expected} deferred messages within {timeout}");
}

static Task WriteAsync(string directory, string name, object result, string markdown) => BenchOutput.WriteResultAsync(directory, name, result, markdown);

internal sealed partial class Program
{
    private static readonly string[] Quiet = BenchOutput.QuietArguments;
}

internal static class BenchOutput
{
    /// <summary>The node logs warnings only, so its console does not slow what is measured.</summary>
    public static readonly string[] QuietArguments = ["--Logging:LogLevel:Default=Warning", "--Logging:LogLevel:AyTrack=Warning"];

    public static async Task WriteResultAsync(string directory, string name, object result, string markdown)
    {
        await File.WriteAllTextAsync(Path.Combine(directory, $"{name}.json"), JsonSerializer.Serialize(result, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase }));
        await File.WriteAllTextAsync(Path.Combine(directory, $"{name}.md"), markdown);
        Console.WriteLine(markdown);
    }
}

internal sealed record RelayRun(int Messages, int Accepted, int Received, double InjectionPerSecond, double EndToEndPerSecond,
    double AcceptP50Ms, double AcceptP99Ms, double Seconds)
{
    public double? PeakMemoryMb { get; init; }

    /// <summary>CPU of the relay under test (the node, or Postfix's whole process tree) per 1,000 messages.</summary>
    public double? CpuSecondsPer1000 { get; init; }

    /// <summary>CPU of the benchmark's own process (injector, sinks, DNS) per 1,000 messages.</summary>
    public double HarnessCpuSecondsPer1000 { get; init; }

    public string Row(string name) =>
        $"| {name} | {Messages} | {Received} | {InjectionPerSecond} | {EndToEndPerSecond} | {AcceptP50Ms} | {AcceptP99Ms} | {PeakMemoryMb?.ToString() ?? "-"} | {CpuSecondsPer1000?.ToString() ?? "-"} | {HarnessCpuSecondsPer1000} |";
}

internal sealed record QueuedRun(int Queued, int Accepted, double InjectionPerSecond, double QueuedAfterSeconds, double MemoryHeldMb,
    double PeakMemoryMb, double StopSeconds, double RestartToReadySeconds, double RestartToRetriesArmedSeconds)
{
    public double MemoryAfterRestartMb { get; init; }

    public double ManagedHeapMb { get; init; }
}

internal sealed record BenchSettings(string Scenario, int Messages, int Sessions, int Domains, int Size, int Queued, string Out)
{
    /// <summary>--warmup: messages sent through each path before it is measured (0: measure from a cold start).</summary>
    public int Warmup { get; init; }

    /// <summary>--postfix: also run the workload through Debian's Postfix (needs root and the postfix package).</summary>
    public bool Postfix { get; init; }

    /// <summary>--postgres: the relay scenario's node stores its spool and journal in PostgreSQL (the cluster's store).</summary>
    public bool Postgres { get; init; }

    /// <summary>--dkim: the relay scenario's node signs every message with one RSA DKIM key (the injector's From domain).</summary>
    public bool Dkim { get; init; }

    /// <summary>--tls: the relay scenario's sinks offer STARTTLS, so sessions pay for handshakes.</summary>
    public bool Tls { get; init; }

    /// <summary>--queued-domains: how many domains the queued scenario spreads its messages over (each its own site).</summary>
    public int QueuedDomains { get; init; } = 1;

    /// <summary>--no-reuse: every session ends with its batch (a shaping file with idleConnectionTimeout: 0s for every site).</summary>
    public bool NoReuse { get; init; }

    /// <summary>hostile: clients sending a huge DATA, and as many sending a huge command line (--clients).</summary>
    public int Clients { get; init; } = 20;

    /// <summary>hostile: megabytes of DATA each flooding client sends (--data-mb).</summary>
    public int DataMb { get; init; } = 200;

    /// <summary>hostile: megabytes of one command line each line client sends (--line-mb).</summary>
    public int LineMb { get; init; } = 100;

    /// <summary>hostile: the slow client's message size (--slow-mb) and rate (--slow-kbps).</summary>
    public int SlowMb { get; init; } = 25;

    public int SlowKbps { get; init; } = 1024;

    /// <summary>fuzz: how long (--minutes), how many sessions at once (--concurrency), and the seed (--seed).</summary>
    public double Minutes { get; init; } = 5;

    public int Concurrency { get; init; } = 16;

    public int Seed { get; init; } = 1;

    /// <summary>Extra node configuration after "--", e.g. -- --AyTrack:Settings:Timing:Threads=50.</summary>
    public string[] NodeArguments { get; init; } = [];

    public static BenchSettings Parse(string[] args)
    {
        var separator = Array.IndexOf(args, "--");
        var own = separator < 0 ? args : args[..separator];

        string Value(string name, string fallback)
        {
            var i = Array.IndexOf(own, name);
            return i >= 0 && i + 1 < own.Length ? own[i + 1] : fallback;
        }

        var scenario = own.FirstOrDefault(a => a is "relay" or "queued" or "all" or "hostile" or "fuzz") ?? "relay";
        return new BenchSettings(scenario, int.Parse(Value("--messages", "10000")), int.Parse(Value("--sessions", "20")),
            int.Parse(Value("--domains", "50")), int.Parse(Value("--size", "4096")), int.Parse(Value("--queued", "100000")),
            Value("--out", "bench-results"))
        {
            NodeArguments = separator < 0 ? [] : args[(separator + 1)..],
            Postfix = own.Contains("--postfix"),
            NoReuse = own.Contains("--no-reuse"),
            QueuedDomains = Math.Max(1, int.Parse(Value("--queued-domains", "1"))),
            Tls = own.Contains("--tls"),
            Postgres = own.Contains("--postgres"),
            Dkim = own.Contains("--dkim"),
            Warmup = int.Parse(Value("--warmup", "0")),
            Clients = int.Parse(Value("--clients", "20")),
            DataMb = int.Parse(Value("--data-mb", "200")),
            LineMb = int.Parse(Value("--line-mb", "100")),
            SlowMb = int.Parse(Value("--slow-mb", "25")),
            SlowKbps = int.Parse(Value("--slow-kbps", "1024")),
            Minutes = double.Parse(Value("--minutes", "5"), System.Globalization.CultureInfo.InvariantCulture),
            Concurrency = int.Parse(Value("--concurrency", "16")),
            Seed = int.Parse(Value("--seed", "1")),
        };
    }
}
