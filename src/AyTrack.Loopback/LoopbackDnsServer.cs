using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using ARSoft.Tools.Net;
using ARSoft.Tools.Net.Dns;

namespace AyTrack.Loopback;

/// <summary>
/// An authoritative DNS server on loopback (UDP and TCP on one port) for the loopback world's .test domains. Names it
/// does not know answer NXDOMAIN, so nothing it serves can point outside 127.0.0.0/8 unless a test says so.
/// </summary>
public sealed class LoopbackDnsServer : IDisposable
{
    private const int Ttl = 300;

    private readonly ConcurrentDictionary<string, List<(ushort Preference, string Exchange)>> _mx = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, List<IPAddress>> _addresses = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, List<(ushort Priority, ushort Weight, ushort Port, string Target)>> _srv = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, List<IReadOnlyList<string>>> _txt = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, bool> _servFail = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, bool> _noData = new(StringComparer.OrdinalIgnoreCase);
    private int _queries;
    private DnsServer? _server;

    public IPEndPoint Endpoint { get; private set; } = new(IPAddress.Loopback, 0);

    /// <summary>How many questions the server has answered; tests use it to see the resolver's cache work.</summary>
    public int QueryCount => Volatile.Read(ref _queries);

    public LoopbackDnsServer AddMx(string domain, ushort preference, string exchange)
    {
        _mx.GetOrAdd(Normalize(domain), _ => []).Add((preference, Normalize(exchange)));
        return this;
    }

    /// <summary>RFC 7505 null MX: "MX 0 .".</summary>
    public LoopbackDnsServer AddNullMx(string domain) => AddMx(domain, 0, ".");

    public LoopbackDnsServer AddAddress(string host, IPAddress address)
    {
        _addresses.GetOrAdd(Normalize(host), _ => []).Add(address);
        return this;
    }

    /// <summary>An SRV record (RFC 2782), e.g. _submissions._tcp.example.test.</summary>
    public LoopbackDnsServer AddSrv(string name, ushort priority, ushort weight, ushort port, string target)
    {
        _srv.GetOrAdd(Normalize(name), _ => []).Add((priority, weight, port, Normalize(target)));
        return this;
    }

    /// <summary>A TXT record of one or more strings (each at most 255 octets), e.g. a DKIM key at s1._domainkey.example.test.</summary>
    public LoopbackDnsServer AddTxt(string name, IReadOnlyList<string> strings)
    {
        _txt.GetOrAdd(Normalize(name), _ => []).Add(strings);
        return this;
    }

    /// <summary>Replaces every TXT record at <paramref name="name"/> with this one (served with TTL 0, so a change is seen at once).</summary>
    public LoopbackDnsServer SetTxt(string name, IReadOnlyList<string> strings)
    {
        _txt[Normalize(name)] = [strings];
        return this;
    }

    /// <summary>The name exists but has no records (NOERROR, empty answer).</summary>
    public LoopbackDnsServer AddEmptyName(string name)
    {
        _noData[Normalize(name)] = true;
        return this;
    }

    public LoopbackDnsServer AddServerFailure(string name)
    {
        _servFail[Normalize(name)] = true;
        return this;
    }

    public void Start()
    {
        // UDP and TCP share one port so resolvers can fall back to TCP; take a free UDP port and bind TCP beside it.
        for (var attempt = 0; ; attempt++)
        {
            int port;
            using (var probe = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp))
            {
                probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
                port = ((IPEndPoint)probe.LocalEndPoint!).Port;
            }

            var endpoint = new IPEndPoint(IPAddress.Loopback, port);
            var server = new DnsServer(new UdpServerTransport(endpoint), new TcpServerTransport(endpoint));
            server.QueryReceived += OnQueryAsync;
            try
            {
                server.Start();
                _server = server;
                Endpoint = endpoint;
                return;
            }
            catch (SocketException) when (attempt < 10)
            {
                Stop(server);
            }
        }
    }

    public void Dispose()
    {
        if (_server is { } server)
        {
            Stop(server);
        }
    }

    private static void Stop(DnsServer server)
    {
        try
        {
            server.Stop();
        }
        catch (AggregateException e) when (e.Flatten().InnerExceptions.All(IsShutdownRace))
        {
            // ARSoft's Stop cancels its listener tasks and then waits on them: a listener cancelled in the middle of an
            // accept or receive surfaces here as TaskCanceledException (or its socket's ObjectDisposedException). The
            // server is stopped either way; a test's clean-up must not fail on it.
        }
    }

    private static bool IsShutdownRace(Exception e) => e is OperationCanceledException or ObjectDisposedException or SocketException;

    private Task OnQueryAsync(object sender, QueryReceivedEventArgs e)
    {
        if (e.Query is not DnsMessage query)
        {
            return Task.CompletedTask;
        }

        var response = query.CreateResponseInstance();
        response.IsAuthoritiveAnswer = true;
        response.ReturnCode = ReturnCode.NoError;
        foreach (var question in query.Questions)
        {
            Interlocked.Increment(ref _queries);
            var name = Normalize(question.Name.ToString());
            if (_servFail.ContainsKey(name))
            {
                response.ReturnCode = ReturnCode.ServerFailure;
                continue;
            }

            var known = _mx.ContainsKey(name) || _addresses.ContainsKey(name) || _noData.ContainsKey(name) || _srv.ContainsKey(name) ||
                        _txt.ContainsKey(name);
            if (!known)
            {
                response.ReturnCode = ReturnCode.NxDomain;
                continue;
            }

            switch (question.RecordType)
            {
                case RecordType.Mx when _mx.TryGetValue(name, out var mx):
                    foreach (var (preference, exchange) in mx)
                    {
                        var target = exchange == "" ? DomainName.Root : DomainName.Parse(exchange);
                        response.AnswerRecords.Add(new MxRecord(question.Name, Ttl, preference, target));
                    }

                    break;
                case RecordType.Txt when _txt.TryGetValue(name, out var txt):
                    foreach (var strings in txt)
                    {
                        // TTL 0: tests change TXT records (MTA-STS ids) and must not wait for resolvers' caches.
                        response.AnswerRecords.Add(new TxtRecord(question.Name, 0, strings.ToArray()));
                    }

                    break;
                case RecordType.Srv when _srv.TryGetValue(name, out var srv):
                    foreach (var (priority, weight, port, target) in srv)
                    {
                        response.AnswerRecords.Add(new SrvRecord(question.Name, Ttl, priority, weight, port,
                            target == "" ? DomainName.Root : DomainName.Parse(target)));
                    }

                    break;
                case RecordType.A when _addresses.TryGetValue(name, out var a):
                    foreach (var ip in a.Where(ip => ip.AddressFamily == AddressFamily.InterNetwork))
                    {
                        response.AnswerRecords.Add(new ARecord(question.Name, Ttl, ip));
                    }

                    break;
                case RecordType.Aaaa when _addresses.TryGetValue(name, out var aaaa):
                    foreach (var ip in aaaa.Where(ip => ip.AddressFamily == AddressFamily.InterNetworkV6))
                    {
                        response.AnswerRecords.Add(new AaaaRecord(question.Name, Ttl, ip));
                    }

                    break;
            }
        }

        if (response.AnswerRecords.Count == 0 && response.ReturnCode is ReturnCode.NoError or ReturnCode.NxDomain)
        {
            // As a real authoritative server does: the zone's SOA tells resolvers how long to cache the negative answer.
            var zone = DomainName.Parse("test");
            response.AuthorityRecords.Add(new SoaRecord(zone, Ttl, DomainName.Parse("ns.test"), DomainName.Parse("hostmaster.test"), 1, 3600, 600, 86400, Ttl));
        }

        e.Response = response;
        return Task.CompletedTask;
    }

    private static string Normalize(string name) => name.Trim().TrimEnd('.').ToLowerInvariant();
}
