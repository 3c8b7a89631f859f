using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using AyTrack.Contracts;
using AyTrack.Contracts.Cluster;
using AyTrack.Core.Settings;
using AyTrack.Loopback;

namespace AyTrack.Integration.Tests.Support;

/// <summary>
/// Three (or more) AyTrack node processes on loopback forming one cluster over a throwaway PostgreSQL: one shared
/// database, admin token and secrets key, remoting on free ports with mutual TLS (a CA made for the test issues each
/// node's certificate), node 1 the seed. Node processes log to their data directories.
/// </summary>
public sealed class TestCluster : IAsyncDisposable
{
    private readonly PostgresServer _postgres;
    private readonly string _root;
    private readonly List<string> _arguments;

    private TestCluster(PostgresServer postgres, string root, List<string> arguments, string token)
    {
        _postgres = postgres;
        _root = root;
        _arguments = arguments;
        Token = token;
    }

    public string Token { get; }

    /// <summary>The PostgreSQL server every node shares.</summary>
    public PostgresServer Postgres => _postgres;

    public List<ClusterNode> Nodes { get; } = [];

    public static async Task<TestCluster> StartAsync(LoopbackWorld world, int nodes, params string[] extraArguments)
    {
        var postgres = await PostgresServer.StartAsync();
        var database = await postgres.CreateDatabaseAsync("aytrack");
        var root = Directory.CreateTempSubdirectory("aytrack-cluster").FullName;
        var keyFile = Path.Combine(root, "secrets.key");
        SecretBox.LoadOrCreate(keyFile);
        var token = Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));
        using (var ca = ClusterCertificates.CreateCa("AyTrack test cluster CA", DateTimeOffset.UtcNow))
        {
            ClusterCertificates.WritePkcs12(ca, Path.Combine(root, "ca.pfx"), null);
            ClusterCertificates.WritePem(ca, Path.Combine(root, "ca.crt"));
        }

        var ports = Enumerable.Range(0, nodes).Select(_ => LocalSystem.FreePort()).ToList();
        var cluster = new TestCluster(postgres, root,
        [
            "--AyTrack:Persistence:Provider=postgresql",
            $"--AyTrack:Persistence:ConnectionString={database}",
            $"--AyTrack:Admin:Token={token}",
            $"--AyTrack:Secrets:KeyFile={keyFile}",
            $"--AyTrack:Cluster:SeedNodes:0={Address(ports[0])}",
            "--AyTrack:Cluster:StableAfter=00:00:05",
            $"--AyTrack:Cluster:Tls:CaPath={Path.Combine(root, "ca.crt")}",
            .. extraArguments,
        ], token);
        try
        {
            // Node 1 is the seed and starts first; the others join it.
            for (var i = 0; i < nodes; i++)
            {
                cluster.Nodes.Add(await cluster.StartNodeAsync(world, i + 1, ports[i]));
            }

            // Formed means every node has seen every member Up: gossip reaches the nodes at different moments, and a
            // node that still sees a peer joining leaves it out of cluster-wide answers such as /api/threads.
            foreach (var node in cluster.Nodes)
            {
                await Eventually.UntilAsync(async () => (await node.GetAsync<ClusterView>("/api/cluster")).Members
                    .Count(m => m.Status == "Up") == nodes, TimeSpan.FromSeconds(60));
            }
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    public static string Address(int port) => $"akka.ssl.tcp://aytrack@127.0.0.1:{port}";

    /// <summary>The directory the cluster's files (CA, certificates, node data) live in.</summary>
    public string Root => _root;

    /// <summary>A certificate for a node, issued by the cluster's CA.</summary>
    public string IssueCertificate(string name)
    {
        var path = Path.Combine(_root, name + ".pfx");
        using var ca = ClusterCertificates.LoadPkcs12(Path.Combine(_root, "ca.pfx"), null);
        using var certificate = ClusterCertificates.CreateNode(name, ["127.0.0.1"], ca, DateTimeOffset.UtcNow);
        ClusterCertificates.WritePkcs12(certificate, path, null);
        return path;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in Nodes)
        {
            await node.DisposeAsync();
        }

        await _postgres.DisposeAsync();
    }

    /// <summary>Starts node <paramref name="number"/> (again) on <paramref name="port"/>; later arguments override earlier ones.</summary>
    public async Task<ClusterNode> StartNodeAsync(LoopbackWorld world, int number, int port, params string[] extraArguments)
    {
        var dataDir = Path.Combine(_root, $"node{number}");
        // Each node's own CA-issued certificate, unless the cluster's or this start's arguments name another.
        var process = await NodeProcess.StartAsync(dataDir, [.. world.NodeArguments(dataDir),
            $"--AyTrack:Cluster:Tls:CertificatePath={IssueCertificate($"node{number}")}", .. _arguments, $"--AyTrack:Cluster:Port={port}",
            .. extraArguments]);
        return new ClusterNode(number, Address(port), process, Token);
    }
}

/// <summary>One node of a <see cref="TestCluster"/>: its process, its cluster address and an admin client.</summary>
public sealed class ClusterNode(int number, string address, NodeProcess process, string token) : IAsyncDisposable
{
    private readonly HttpClient _http = new()
    {
        BaseAddress = process.AdminUrl,
        DefaultRequestHeaders = { Authorization = new AuthenticationHeaderValue("Bearer", token) },
    };

    public int Number { get; } = number;

    public string Address { get; } = address;

    public NodeProcess Process { get; } = process;

    public IPEndPoint SmtpEndpoint => Process.SmtpEndpoint;

    public async Task<T> GetAsync<T>(string path) => (await _http.GetFromJsonAsync<T>(path, AyTrack.Cli.AdminClient.Json))!;

    public Task<HttpResponseMessage> PostAsync<T>(string path, T body) => _http.PostAsJsonAsync(path, body);

    public Task<HttpResponseMessage> PatchAsync(string path, string json) =>
        _http.PatchAsync(path, new StringContent(json, System.Text.Encoding.UTF8, "application/merge-patch+json"));

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        await Process.DisposeAsync();
    }
}
