using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;

namespace AyTrack.Loopback;

/// <summary>
/// A small internet on loopback: a DNS server for .test domains and SMTP hosts on 127.x addresses, all on one port
/// (a node's AyTrack:Delivery:MxPort), so a node configured by <see cref="NodeArguments"/> delivers here and can reach
/// nothing else. Each world takes its own 127.a.b.0/24, so worlds run side by side in one process or many.
/// </summary>
public sealed class LoopbackWorld : IAsyncDisposable
{
    private static readonly HashSet<int> SubnetsInUse = [];

    private readonly TcpListener _portReservation;
    private readonly List<IAsyncDisposable> _owned = [];
    private readonly int _subnet;
    private int _nextHost = 2;

    private LoopbackWorld(int subnet)
    {
        _subnet = subnet;
        // Holding x.x.x.1 on the chosen port keeps the port number ours; every host of this world uses it.
        _portReservation = new TcpListener(Address(1), 0);
        _portReservation.Start();
        MxPort = ((IPEndPoint)_portReservation.LocalEndpoint).Port;
        Dns = new LoopbackDnsServer();
        Dns.Start();
    }

    public LoopbackDnsServer Dns { get; }

    /// <summary>The port every host of this world listens on.</summary>
    public int MxPort { get; }

    public static LoopbackWorld Create()
    {
        lock (SubnetsInUse)
        {
            while (true)
            {
                var subnet = Random.Shared.Next(1 << 8, 250 << 8 | 250);
                if (subnet >> 8 == 0 || (subnet & 0xFF) == 0 || !SubnetsInUse.Add(subnet))
                {
                    continue;
                }

                try
                {
                    return new LoopbackWorld(subnet);
                }
                catch (SocketException)
                {
                    // Someone else holds that address and port; take another subnet.
                }
            }
        }
    }

    /// <summary>The next unused address of this world.</summary>
    public IPAddress NextAddress() => Address(Interlocked.Increment(ref _nextHost));

    /// <summary>A receiving SMTP host named <paramref name="host"/> (with STARTTLS when a certificate is given).</summary>
    public SmtpSink AddSink(string host, X509Certificate2? certificate = null,
        System.Security.Authentication.SslProtocols protocols = System.Security.Authentication.SslProtocols.Tls12 | System.Security.Authentication.SslProtocols.Tls13)
    {
        var ip = NextAddress();
        var sink = SmtpSink.Start(host, new IPEndPoint(ip, MxPort), certificate, protocols);
        _owned.Add(sink);
        Dns.AddAddress(host, ip);
        return sink;
    }

    /// <summary>
    /// An external SMTP server (a relay) named <paramref name="host"/>, on its own free port (relays listen on 25,
    /// 587 or 465, not on the world's MX port).
    /// </summary>
    public SmtpSink AddRelay(string host, SinkOptions options)
    {
        var ip = NextAddress();
        var sink = SmtpSink.Start(host, new IPEndPoint(ip, 0), options);
        _owned.Add(sink);
        Dns.AddAddress(host, ip);
        return sink;
    }

    /// <summary>A host name whose address has nothing listening: connections are refused.</summary>
    public IPAddress AddDownHost(string host)
    {
        var ip = NextAddress();
        Dns.AddAddress(host, ip);
        return ip;
    }

    /// <summary>Starts a receiving SMTP host on the address of a host that was down until now.</summary>
    public SmtpSink BringUp(string host, IPAddress address)
    {
        var sink = SmtpSink.Start(host, new IPEndPoint(address, MxPort));
        _owned.Add(sink);
        return sink;
    }

    /// <summary>A host that accepts connections and then hangs (says nothing) or drops them.</summary>
    public SilentHost AddSilentHost(string host, bool drop)
    {
        var ip = NextAddress();
        var silent = new SilentHost(new IPEndPoint(ip, MxPort), drop);
        _owned.Add(new DisposableAdapter(silent));
        Dns.AddAddress(host, ip);
        return silent;
    }

    /// <summary>A domain whose one MX host (mx.&lt;domain&gt;) speaks ESMTP without SMTPUTF8.</summary>
    public LegacyHost AddLegacyDomain(string domain, params string[] extensions)
    {
        var ip = NextAddress();
        var host = new LegacyHost(new IPEndPoint(ip, MxPort), extensions);
        _owned.Add(new DisposableAdapter(host));
        Dns.AddAddress($"mx.{domain}", ip);
        Dns.AddMx(domain, 10, $"mx.{domain}");
        return host;
    }

    /// <summary>A domain whose one MX host (mx.&lt;domain&gt;) answers as the test scripts it (see <see cref="ScriptedHost"/>).</summary>
    public ScriptedHost AddScriptedDomain(string domain, Func<string, string?> answer, string greeting = "220 scripted.test ESMTP\r\n")
    {
        var ip = NextAddress();
        var host = new ScriptedHost(new IPEndPoint(ip, MxPort), answer, greeting);
        _owned.Add(new DisposableAdapter(host));
        Dns.AddAddress($"mx.{domain}", ip);
        Dns.AddMx(domain, 10, $"mx.{domain}");
        return host;
    }

    /// <summary>A domain with one MX host (mx.&lt;domain&gt;) that accepts everything.</summary>
    public SmtpSink AddDomain(string domain, X509Certificate2? certificate = null)
    {
        var sink = AddSink($"mx.{domain}", certificate);
        Dns.AddMx(domain, 10, $"mx.{domain}");
        return sink;
    }

    /// <summary>
    /// Configuration for a node that lives in this world: its DNS, the MX port, free ports for its own listeners,
    /// and AllowedDestinations 127.0.0.0/8 so no message can leave loopback whatever DNS says.
    /// </summary>
    public IReadOnlyList<string> NodeArguments(string dataDir) =>
    [
        $"--AyTrack:DataDir={dataDir}",
        "--AyTrack:Listener:Endpoint=127.0.0.1:0",
        "--AyTrack:Admin:Url=http://127.0.0.1:0",
        $"--AyTrack:Dns:Servers:0={Dns.Endpoint}",
        $"--AyTrack:Delivery:MxPort={MxPort}",
        "--AyTrack:Delivery:AllowedDestinations:0=127.0.0.0/8",
        "--AyTrack:Delivery:ConnectTimeout=00:00:05",
        "--AyTrack:Delivery:CommandTimeout=00:00:10",
        "--AyTrack:Listener:ServerName=aytrack.test",
    ];

    public async ValueTask DisposeAsync()
    {
        foreach (var owned in _owned)
        {
            await owned.DisposeAsync();
        }

        Dns.Dispose();
        _portReservation.Stop();
        lock (SubnetsInUse)
        {
            SubnetsInUse.Remove(_subnet);
        }
    }

    private IPAddress Address(int host) => new([127, (byte)(_subnet >> 8), (byte)(_subnet & 0xFF), (byte)host]);

    private sealed class DisposableAdapter(IDisposable inner) : IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            inner.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
