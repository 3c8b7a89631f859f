using System.Diagnostics;
using SmtpServer.Protocol;

namespace AyTrack.Loopback;

/// <summary>How a demo domain's mail servers behave.</summary>
public enum DemoBehaviour
{
    Healthy,
    /// <summary>450 4.7.1 for every recipient until <see cref="DemoWorld.GreylistFor"/> after its first session, then accepts.</summary>
    Greylisting,
    /// <summary>550 5.1.1 for every recipient whose local part starts with "gone", accepts the others.</summary>
    Picky,
    /// <summary>Accepts, but takes <see cref="DemoWorld.SlowBy"/> over each message.</summary>
    Slow,
    /// <summary>Publishes a null MX (RFC 7505): accepts no mail at all.</summary>
    NullMx,
}

public sealed record DemoDomain(string Name, DemoBehaviour Behaviour, SmtpSink? Sink);

/// <summary>
/// The runnable loopback world of `aytrack demo` and the benchmark's examples: a DNS server for a set of .test
/// domains with mail servers that behave as real ones do (healthy, greylisting, refusing some recipients, slow, null
/// MX), the sender's own domain (where DSNs arrive) and an external relay. Everything listens on 127.x addresses.
/// </summary>
public sealed class DemoWorld : IAsyncDisposable
{
    public static readonly TimeSpan GreylistFor = TimeSpan.FromSeconds(12);
    public static readonly TimeSpan SlowBy = TimeSpan.FromMilliseconds(150);

    private DemoWorld(LoopbackWorld world, IReadOnlyList<DemoDomain> domains, SmtpSink senderSink, SmtpSink relay)
    {
        World = world;
        Domains = domains;
        SenderSink = senderSink;
        Relay = relay;
    }

    public LoopbackWorld World { get; }

    public IReadOnlyList<DemoDomain> Domains { get; }

    public const string Sender = "app@apps.demo.test";

    /// <summary>The sender's domain: delivery status notifications for refused mail arrive here.</summary>
    public SmtpSink SenderSink { get; }

    /// <summary>An external SMTP server (no TLS, no login) for the relay modes.</summary>
    public SmtpSink Relay { get; }

    public static DemoWorld Create()
    {
        var world = LoopbackWorld.Create();
        var domains = new List<DemoDomain>();
        foreach (var name in new[] { "shop", "news", "travel", "bank", "school", "club" })
        {
            domains.Add(new DemoDomain($"{name}.demo.test", DemoBehaviour.Healthy, world.AddDomain($"{name}.demo.test")));
        }

        var greylist = world.AddDomain("greylist.demo.test");
        Stopwatch? firstContact = null;
        greylist.RecipientReply = _ =>
        {
            var clock = LazyInitializer.EnsureInitialized(ref firstContact, Stopwatch.StartNew);
            return clock.Elapsed < GreylistFor
                ? new SmtpResponse((SmtpReplyCode)450, "4.7.1 Greylisted, please try again later")
                : null;
        };
        domains.Add(new DemoDomain("greylist.demo.test", DemoBehaviour.Greylisting, greylist));

        var picky = world.AddDomain("picky.demo.test");
        picky.RecipientReply = r => r.StartsWith("gone", StringComparison.Ordinal)
            ? new SmtpResponse(SmtpReplyCode.MailboxUnavailable, "5.1.1 No such user here")
            : null;
        domains.Add(new DemoDomain("picky.demo.test", DemoBehaviour.Picky, picky));

        var slow = world.AddDomain("slow.demo.test");
        slow.BeforeAccept = () => Task.Delay(SlowBy);
        domains.Add(new DemoDomain("slow.demo.test", DemoBehaviour.Slow, slow));

        world.Dns.AddNullMx("nullmx.demo.test");
        domains.Add(new DemoDomain("nullmx.demo.test", DemoBehaviour.NullMx, null));

        var senderSink = world.AddDomain("apps.demo.test");
        var relay = world.AddRelay("relay.demo.test", new SinkOptions());
        return new DemoWorld(world, domains, senderSink, relay);
    }

    /// <summary>The recipient of demo message i: spread over the domains, every tenth at picky.demo.test a "gone" user.</summary>
    public string Recipient(int i)
    {
        var domain = Domains[i % Domains.Count];
        var local = domain.Behaviour == DemoBehaviour.Picky && i / Domains.Count % 4 == 0 ? $"gone{i}" : $"user{i}";
        return $"{local}@{domain.Name}";
    }

    /// <summary>
    /// Configuration for a node in this world: its DNS, MX port and relay, quick retries so the greylisted mail goes
    /// through within the demo, and AllowedDestinations 127.0.0.0/8 (from <see cref="LoopbackWorld.NodeArguments"/>).
    /// </summary>
    public IReadOnlyList<string> NodeArguments(string dataDir, string mode) =>
    [
        .. World.NodeArguments(dataDir),
        "--AyTrack:Delivery:MinBackoff=00:00:03",
        "--AyTrack:Delivery:MaxBackoff=00:00:06",
        $"--AyTrack:Settings:Mode={mode}",
        "--AyTrack:Settings:Relay:Host=relay.demo.test",
        $"--AyTrack:Settings:Relay:Port={Relay.Endpoint.Port}",
        "--AyTrack:Settings:Relay:Tls=None",
    ];

    public ValueTask DisposeAsync() => World.DisposeAsync();
}
