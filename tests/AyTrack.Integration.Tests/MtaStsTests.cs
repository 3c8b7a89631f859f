using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using AyTrack.Integration.Tests.Support;
using AyTrack.Loopback;
using Xunit;

namespace AyTrack.Integration.Tests;

/// <summary>
/// MTA-STS (RFC 8461) in direct delivery, against the loopback world's HTTPS policy server and STARTTLS sinks whose
/// certificates come from a test CA that the node trusts through AyTrack:Delivery:TrustedCaPath.
/// </summary>
public sealed class MtaStsTests : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private readonly string _dir = Directory.CreateTempSubdirectory("aytrack-mta-sts").FullName;
    private LoopbackWorld _world = null!;
    private TestCertificateAuthority _ca = null!;
    private MtaStsPolicyServer _policies = null!;

    public Task InitializeAsync()
    {
        _world = LoopbackWorld.Create();
        _ca = new TestCertificateAuthority("AyTrack MTA-STS Test CA");
        _policies = new MtaStsPolicyServer(System.Net.IPAddress.Loopback, _ca);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _policies.DisposeAsync();
        await _world.DisposeAsync();
        _ca.Dispose();
        Directory.Delete(_dir, true);
    }

    [Fact]
    public async Task Enforce_delivers_over_validated_tls_to_an_mx_of_the_policy()
    {
        var sink = Domain("secure.test", "enforce", _ca.Issue("mx.secure.test"));
        await using var node = await StartAsync();

        await node.SendAsync(TestNode.NewMessage("app@sender.test", ["bob@secure.test"], "under enforce"));

        var entry = await DeliveryLogReader.WaitForAsync(node.DataDir, "bob@secure.test", Patience, outcome: "delivered");
        Assert.True(entry.GetProperty("tls").GetBoolean());
        Assert.Equal("enforce (policy 1)", entry.GetProperty("mtaSts").GetString());
        Assert.True(Assert.Single(sink.Received).Secure);
        Assert.Equal(1, _policies.Requests("secure.test"));
    }

    [Fact]
    public async Task Enforce_defers_an_mx_outside_the_policy_a_bad_certificate_and_no_starttls_and_sends_nothing_in_clear()
    {
        var outside = Domain("outside.test", "enforce", _ca.Issue("mx.outside.test"), policyMx: "mx.elsewhere.test");
        using var selfSigned = SmtpSink.CreateCertificate("mx.badcert.test");
        var badCertificate = Domain("badcert.test", "enforce", selfSigned);
        var plain = Domain("plain.test", "enforce", certificate: null);
        await using var node = await StartAsync();

        foreach (var domain in new[] { "outside.test", "badcert.test", "plain.test" })
        {
            await node.SendAsync(TestNode.NewMessage("app@sender.test", [$"bob@{domain}"], $"to {domain} under enforce"));
        }

        var reasons = new Dictionary<string, string>();
        foreach (var domain in new[] { "outside.test", "badcert.test", "plain.test" })
        {
            var entry = await DeliveryLogReader.WaitForAsync(node.DataDir, $"bob@{domain}", Patience, outcome: "deferred");
            reasons[domain] = entry.GetProperty("reply").GetString()!;
            Assert.StartsWith("451 4.7.5", reasons[domain]);
            Assert.Equal("enforce (policy 1)", entry.GetProperty("mtaSts").GetString());
        }

        Assert.Contains("mx.outside.test is not an MX host of the MTA-STS policy of outside.test", reasons["outside.test"]);
        Assert.Contains("the certificate of mx.badcert.test is not valid for it", reasons["badcert.test"]);
        Assert.Contains("does not offer STARTTLS", reasons["plain.test"]);
        Assert.Empty(outside.Received);
        Assert.Equal(0, outside.SessionCount);
        Assert.Empty(badCertificate.Received);
        Assert.Empty(plain.Received);
    }

    [Fact]
    public async Task Testing_delivers_as_before_and_logs_what_enforce_would_have_refused()
    {
        var plain = Domain("trial.test", "testing", certificate: null);
        await using var node = await StartAsync();

        await node.SendAsync(TestNode.NewMessage("app@sender.test", ["bob@trial.test"], "under testing"));

        var entry = await DeliveryLogReader.WaitForAsync(node.DataDir, "bob@trial.test", Patience, outcome: "delivered");
        Assert.False(entry.GetProperty("tls").GetBoolean());
        var note = entry.GetProperty("mtaSts").GetString()!;
        Assert.StartsWith("testing (policy 1); enforce would refuse:", note);
        Assert.Contains("does not offer STARTTLS", note);
        Assert.Single(plain.Received);
    }

    [Fact]
    public async Task A_cached_policy_survives_a_restart_a_redirect_and_a_timeout_until_the_domain_publishes_none()
    {
        var plain = Domain("kept.test", "enforce", certificate: null);
        var dataDir = Path.Combine(_dir, "node");
        var node = await StartAsync(dataDir);
        await node.SendAsync(TestNode.NewMessage("app@sender.test", ["one@kept.test"], "first"));
        await DeliveryLogReader.WaitForAsync(dataDir, "one@kept.test", Patience, outcome: "deferred");
        Assert.Equal(1, _policies.Requests("kept.test"));
        node.KeepDataDir = true;
        await node.DisposeAsync();

        // The policy server is gone for good; the restarted node still enforces from its own cache, without a fetch.
        _policies.ServeStatus("kept.test", 404);
        await using var restarted = await StartAsync(dataDir);
        await restarted.SendAsync(TestNode.NewMessage("app@sender.test", ["two@kept.test"], "after the restart"));
        Assert.StartsWith("451 4.7.5", Reply(await DeliveryLogReader.WaitForAsync(dataDir, "two@kept.test", Patience, outcome: "deferred")));
        Assert.Equal(1, _policies.Requests("kept.test"));

        // A new id whose policy answers with a redirect, then never answers: the cached policy stays in force.
        _world.Dns.SetTxt("_mta-sts.kept.test", ["v=STSv1; id=2;"]);
        _policies.ServeRedirect("kept.test", "https://mta-sts.elsewhere.test/.well-known/mta-sts.txt");
        await restarted.SendAsync(TestNode.NewMessage("app@sender.test", ["three@kept.test"], "policy redirected"));
        Assert.StartsWith("451 4.7.5", Reply(await DeliveryLogReader.WaitForAsync(dataDir, "three@kept.test", Patience, outcome: "deferred")));
        Assert.Equal(2, _policies.Requests("kept.test"));
        Assert.Equal(0, _policies.Requests("elsewhere.test"));

        _policies.Hang("kept.test");
        await restarted.SendAsync(TestNode.NewMessage("app@sender.test", ["four@kept.test"], "policy server silent"));
        Assert.StartsWith("451 4.7.5", Reply(await DeliveryLogReader.WaitForAsync(dataDir, "four@kept.test", Patience, outcome: "deferred")));
        Assert.Equal(3, _policies.Requests("kept.test"));

        // "mode: none" under a new id drops the policy: mail goes as before, in plain text to this host.
        _world.Dns.SetTxt("_mta-sts.kept.test", ["v=STSv1; id=3;"]);
        _policies.ServePolicy("kept.test", "version: STSv1\r\nmode: none\r\nmax_age: 86400\r\n");
        await restarted.SendAsync(TestNode.NewMessage("app@sender.test", ["five@kept.test"], "policy withdrawn"));
        var delivered = await DeliveryLogReader.WaitForAsync(dataDir, "five@kept.test", Patience, outcome: "delivered");
        Assert.False(delivered.TryGetProperty("mtaSts", out _));
        Assert.Single(plain.Received, m => m.To.Contains("five@kept.test"));
    }

    [Fact]
    public async Task In_DirectThenRelay_an_enforced_deferral_goes_to_the_external_server()
    {
        var plain = Domain("strict.test", "enforce", certificate: null);
        var relay = _world.AddRelay("relay.isp.test", new SinkOptions());
        await using var node = await StartAsync();
        await node.ConfigureAsync($$"""{ "mode": "DirectThenRelay", "relay": { "host": "relay.isp.test", "port": {{relay.Endpoint.Port}} } }""");

        await node.SendAsync(TestNode.NewMessage("app@sender.test", ["bob@strict.test"], "relayed instead"));

        Assert.Equal(["bob@strict.test"], Assert.Single(await relay.WaitForAsync(1, Patience)).To);
        var legs = DeliveryLogReader.Read(node.DataDir).Where(e => e.GetProperty("recipient").GetString() == "bob@strict.test").ToList();
        Assert.Contains(legs, l => l.GetProperty("outcome").GetString() == "deferred" && Reply(l).StartsWith("451 4.7.5", StringComparison.Ordinal));
        Assert.Empty(plain.Received);
    }

    [Fact]
    public async Task A_policy_over_64_KB_or_not_text_plain_is_no_policy_and_mail_goes_as_before()
    {
        var big = Domain("big.test", "enforce", certificate: null);
        _policies.ServePolicy("big.test", "version: STSv1\r\nmode: enforce\r\nmx: mx.big.test\r\nmax_age: 86400\r\n" +
                                          string.Concat(Enumerable.Repeat("x-padding: " + new string('a', 1000) + "\r\n", 70)));
        var html = Domain("html.test", "enforce", certificate: null);
        _policies.ServePolicy("html.test", "version: STSv1\r\nmode: enforce\r\nmx: mx.html.test\r\nmax_age: 86400\r\n", "text/html");
        await using var node = await StartAsync();

        foreach (var domain in new[] { "big.test", "html.test" })
        {
            await node.SendAsync(TestNode.NewMessage("app@sender.test", [$"bob@{domain}"], domain));
            var entry = await DeliveryLogReader.WaitForAsync(node.DataDir, $"bob@{domain}", Patience, outcome: "delivered");
            Assert.False(entry.TryGetProperty("mtaSts", out _));
            Assert.Equal(1, _policies.Requests(domain));
        }

        Assert.Single(big.Received);
        Assert.Single(html.Received);
    }

    private static string Reply(JsonElement entry) => entry.GetProperty("reply").GetString()!;

    /// <summary>A domain with one MX host (mx.&lt;domain&gt;, STARTTLS when a certificate is given) and an MTA-STS policy.</summary>
    private SmtpSink Domain(string domain, string mode, X509Certificate2? certificate, string? policyMx = null)
    {
        var sink = _world.AddDomain(domain, certificate);
        _world.Dns.AddAddress($"mta-sts.{domain}", _policies.Endpoint.Address);
        _world.Dns.SetTxt($"_mta-sts.{domain}", ["v=STSv1; id=1;"]);
        // Made now rather than during the node's first fetch: an RSA key takes long enough on a loaded machine to
        // look like a slow policy server.
        _ca.Issue($"mta-sts.{domain}");
        _policies.ServePolicy(domain, $"version: STSv1\r\nmode: {mode}\r\nmx: {policyMx ?? "mx." + domain}\r\nmax_age: 86400\r\n");
        return sink;
    }

    private Task<TestNode> StartAsync(string? dataDir = null) =>
        TestNode.StartInAsync(_world, dataDir ?? Path.Combine(_dir, Guid.NewGuid().ToString("N")),
            $"--AyTrack:Delivery:MtaSts:PolicyPort={_policies.Endpoint.Port}",
            $"--AyTrack:Delivery:TrustedCaPath={_ca.WritePem(Path.Combine(_dir, "ca.pem"))}",
            // Short enough that the silent-server case does not wait the default 10 s, long enough for a loaded CI machine.
            "--AyTrack:Delivery:MtaSts:FetchTimeout=00:00:05");
}
