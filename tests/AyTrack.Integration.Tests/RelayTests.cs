using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using AyTrack.Contracts;
using AyTrack.Integration.Tests.Support;
using AyTrack.Loopback;
using SmtpServer.Protocol;
using Xunit;

namespace AyTrack.Integration.Tests;

/// <summary>The external SMTP server: its TLS modes, authentication, trusted certificates, and the three modes.</summary>
public sealed class RelayTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private static readonly string[] FastRetries = ["--AyTrack:Delivery:MinBackoff=00:00:00.500", "--AyTrack:Delivery:MaxBackoff=00:00:01"];

    [Fact]
    public async Task RelayAll_with_TLS_None_uses_STARTTLS_when_offered_and_the_MX_sees_nothing()
    {
        await using var world = LoopbackWorld.Create();
        var mx = world.AddDomain("alpha.test");
        var relay = world.AddRelay("relay.isp.test", new SinkOptions { Certificate = SmtpSink.CreateCertificate("relay.isp.test") });
        await using var node = await TestNode.StartAsync(world, FastRetries);
        await node.ConfigureAsync($$"""{ "mode": "RelayAll", "relay": { "host": "relay.isp.test", "port": {{relay.Endpoint.Port}}, "tls": "None" } }""");

        await node.SendAsync(TestNode.NewMessage("app@sender.test", ["a@alpha.test"], "via relay"));

        var received = Assert.Single(await relay.WaitForAsync(1, Patience));
        Assert.True(received.Secure);
        Assert.Equal(["a@alpha.test"], received.To);
        Assert.Empty(mx.Received);
    }

    [Fact]
    public async Task StartTls_required_but_not_offered_defers_and_sends_nothing_in_clear()
    {
        await using var world = LoopbackWorld.Create();
        var relay = world.AddRelay("relay.plain.test", new SinkOptions());
        await using var node = await TestNode.StartAsync(world, FastRetries);
        await node.ConfigureAsync($$"""{ "mode": "RelayAll", "relay": { "host": "relay.plain.test", "port": {{relay.Endpoint.Port}}, "tls": "StartTls" } }""");

        await node.SendAsync(TestNode.NewMessage("app@sender.test", ["a@alpha.test"], "not in clear"));

        var log = await DeliveryLogReader.WaitForAsync(node.DataDir, "a@alpha.test", Patience, outcome: "deferred");
        Assert.Contains("does not offer STARTTLS", log.GetProperty("reply").GetString());
        Assert.Empty(relay.Received);
    }

    [Fact]
    public async Task An_untrusted_certificate_is_refused_naming_its_fingerprint_shown_as_last_refused_then_accepted_once_pinned()
    {
        await using var world = LoopbackWorld.Create();
        using var certificate = SmtpSink.CreateCertificate("relay.tls.test");
        var relay = world.AddRelay("relay.tls.test", new SinkOptions { Certificate = certificate, ImplicitTls = true });
        await using var node = await TestNode.StartAsync(world, FastRetries);
        await node.ConfigureAsync($$"""{ "mode": "RelayAll", "relay": { "host": "relay.tls.test", "port": {{relay.Endpoint.Port}}, "tls": "SslOnConnect" } }""");
        var fingerprint = certificate.GetCertHashString(HashAlgorithmName.SHA256).ToLowerInvariant();

        await node.SendAsync(TestNode.NewMessage("app@sender.test", ["a@alpha.test"], "pin me"));

        var refused = await DeliveryLogReader.WaitForAsync(node.DataDir, "a@alpha.test", Patience, outcome: "deferred");
        var reply = refused.GetProperty("reply").GetString()!;
        Assert.Contains("subject CN=relay.tls.test", reply);
        Assert.Contains($"SHA-256 {fingerprint}", reply);
        Assert.Empty(relay.Received);

        // What the operator sees before trusting it: the refused certificate, its details and PEM (API and CLI).
        var lastRefused = (await node.Http.GetFromJsonAsync<RefusedCertificateView>("/api/certs/last-refused"))!;
        Assert.Equal(("relay.tls.test", "CN=relay.tls.test", fingerprint), (lastRefused.Host, lastRefused.Subject, lastRefused.Sha256));
        Assert.Equal(certificate.ExportCertificatePem().Trim(), lastRefused.Pem.Trim());
        var output = new StringWriter();
        var errors = new StringWriter();
        Assert.Equal(0, await AyTrack.Cli.AyTrackCli.RunAsync(["certs", "last-refused", "--url", node.AdminUrl.ToString(), "--token", node.Token], output, errors));
        Assert.Contains($"sha256:     {fingerprint}", output.ToString());
        Assert.Contains("-----BEGIN CERTIFICATE-----", output.ToString());

        Assert.Equal(0, await AyTrack.Cli.AyTrackCli.RunAsync(["certs", "last-refused", "--pin", "--url", node.AdminUrl.ToString(), "--token", node.Token],
            output, errors));
        Assert.Contains(fingerprint, (await node.Http.GetStringAsync("/api/certs")));
        Assert.True(Assert.Single(await relay.WaitForAsync(1, Patience)).Secure);
    }

    [Fact]
    public async Task A_server_certificate_from_a_private_CA_is_accepted_once_the_CA_is_trusted_and_the_login_works()
    {
        await using var world = LoopbackWorld.Create();
        var (ca, server) = SmtpSink.CreateCaAndServerCertificate("relay.corp.test");
        var relay = world.AddRelay("relay.corp.test", new SinkOptions { Certificate = server, Authenticate = (u, p) => u == "app" && p == "s3cret" });
        await using var node = await TestNode.StartAsync(world, FastRetries);
        await node.ConfigureAsync($$"""
            { "mode": "RelayAll", "relay": { "host": "relay.corp.test", "port": {{relay.Endpoint.Port}}, "tls": "StartTls",
              "requiresAuth": true, "username": "app", "password": "s3cret" } }
            """);

        await node.SendAsync(TestNode.NewMessage("app@sender.test", ["a@alpha.test"], "private CA"));
        var refused = await DeliveryLogReader.WaitForAsync(node.DataDir, "a@alpha.test", Patience, outcome: "deferred");
        Assert.Contains("is not trusted", refused.GetProperty("reply").GetString());

        await node.Http.PostAsJsonAsync("/api/certs", new { kind = "Ca", pem = ca.ExportCertificatePem() });

        var received = Assert.Single(await relay.WaitForAsync(1, Patience));
        Assert.True(received.Secure);
        Assert.Equal("app", received.User);
    }

    [Fact]
    public async Task A_refused_login_defers_the_mail_and_makes_health_degraded()
    {
        await using var world = LoopbackWorld.Create();
        var relay = world.AddRelay("relay.auth.test", new SinkOptions
        {
            Certificate = SmtpSink.CreateCertificate("relay.auth.test"), Authenticate = (_, _) => false,
        });
        await using var node = await TestNode.StartAsync(world, FastRetries);
        await node.ConfigureAsync($$"""
            { "mode": "RelayAll", "relay": { "host": "relay.auth.test", "port": {{relay.Endpoint.Port}}, "tls": "None",
              "requiresAuth": true, "username": "app", "password": "wrong" } }
            """);

        await node.SendAsync(TestNode.NewMessage("app@sender.test", ["a@alpha.test"], "wrong password"));

        var log = await DeliveryLogReader.WaitForAsync(node.DataDir, "a@alpha.test", Patience, outcome: "deferred");
        Assert.StartsWith("535 5.7.8 relay.auth.test refused the login of 'app'", log.GetProperty("reply").GetString());
        // /healthz says what is wrong by its code, without a token; /api/health (token) has the server's words.
        var health = await new HttpClient { BaseAddress = node.AdminUrl }.GetFromJsonAsync<JsonElement>("/healthz");
        Assert.Equal("degraded", health.GetProperty("status").GetString());
        Assert.Equal(["relay-login-refused"], health.GetProperty("reasons").EnumerateArray().Select(r => r.GetString()));
        Assert.DoesNotContain("relay.auth.test", health.GetRawText());
        var details = await node.Http.GetFromJsonAsync<JsonElement>("/api/health");
        Assert.Contains("535", details.GetProperty("components").EnumerateArray().Single(c => c.GetProperty("name").GetString() == "relay")
            .GetProperty("detail").GetString());
        Assert.Empty(relay.Received);
    }

    [Fact]
    public async Task Authentication_is_never_offered_over_plain_text_unless_allowed()
    {
        await using var world = LoopbackWorld.Create();
        var relay = world.AddRelay("relay.clear.test", new SinkOptions { Authenticate = (_, _) => true });
        await using var node = await TestNode.StartAsync(world, FastRetries);
        await node.ConfigureAsync($$"""
            { "mode": "RelayAll", "relay": { "host": "relay.clear.test", "port": {{relay.Endpoint.Port}}, "requiresAuth": true, "username": "app", "password": "pw" } }
            """);

        await node.SendAsync(TestNode.NewMessage("app@sender.test", ["a@alpha.test"], "clear"));
        var log = await DeliveryLogReader.WaitForAsync(node.DataDir, "a@alpha.test", Patience, outcome: "deferred");
        Assert.Contains("Not sending the password", log.GetProperty("reply").GetString());
        Assert.Empty(relay.Received);

        await node.ConfigureAsync("""{ "relay": { "allowPlaintextAuth": true } }""");
        Assert.Equal("app", Assert.Single(await relay.WaitForAsync(1, Patience)).User);
    }

    [Theory]
    [InlineData("down", true)]
    [InlineData("blocklisted", true)]
    [InlineData("unknown-user", false)]
    public async Task DirectThenRelay_hands_over_what_the_relay_can_fix_and_bounces_what_it_cannot(string story, bool relayed)
    {
        await using var world = LoopbackWorld.Create();
        if (story == "down")
        {
            world.AddDownHost("mx.target.test");
            world.Dns.AddMx("target.test", 10, "mx.target.test");
        }
        else
        {
            var mx = world.AddDomain("target.test");
            mx.RecipientReply = _ => story == "blocklisted"
                ? new SmtpResponse(SmtpReplyCode.MailboxUnavailable, "5.7.1 Service unavailable; client host blocked")
                : new SmtpResponse(SmtpReplyCode.MailboxUnavailable, "5.1.1 No such user");
        }

        var senders = world.AddDomain("sender.test");
        var relay = world.AddRelay("relay.isp.test", new SinkOptions());
        await using var node = await TestNode.StartAsync(world, FastRetries);
        await node.ConfigureAsync($$"""{ "mode": "DirectThenRelay", "relay": { "host": "relay.isp.test", "port": {{relay.Endpoint.Port}} } }""");

        await node.SendAsync(TestNode.NewMessage("app@sender.test", ["x@target.test"], story));

        if (relayed)
        {
            Assert.Equal(["x@target.test"], Assert.Single(await relay.WaitForAsync(1, Patience)).To);
            // The delivery log shows both legs: the direct one that failed and the relay's.
            var viaRelay = await DeliveryLogReader.WaitForAsync(node.DataDir, "x@target.test", Patience, outcome: "delivered");
            Assert.Equal("relay.isp.test", viaRelay.GetProperty("mxHost").GetString());
            var legs = DeliveryLogReader.Read(node.DataDir).Where(e => e.GetProperty("recipient").GetString() == "x@target.test").ToList();
            Assert.Contains(legs, l => l.GetProperty("outcome").GetString() != "delivered" && l.GetProperty("reply").GetString()!.Contains("mx.target.test")
                                       || l.TryGetProperty("mxHost", out var host) && host.GetString() == "mx.target.test");
        }
        else
        {
            Assert.Single(await senders.WaitForAsync(1, Patience));
            Assert.Empty(relay.Received);
        }
    }

    [Fact]
    public async Task Switching_from_RelayAll_back_to_Direct_delivers_mail_queued_for_the_relay()
    {
        await using var world = LoopbackWorld.Create();
        var mx = world.AddDomain("alpha.test");
        world.AddDownHost("relay.down.test");
        await using var node = await TestNode.StartAsync(world, FastRetries);
        await node.ConfigureAsync("""{ "mode": "RelayAll", "relay": { "host": "relay.down.test", "port": 2599 } }""");

        for (var i = 0; i < 3; i++)
        {
            await node.SendAsync(TestNode.NewMessage("app@sender.test", [$"u{i}@alpha.test"], $"stranded {i}"));
        }

        await DeliveryLogReader.WaitForAsync(node.DataDir, "u2@alpha.test", Patience, outcome: "deferred");
        Assert.Empty(mx.Received);

        await node.ConfigureAsync("""{ "mode": "Direct" }""");

        Assert.Equal(3, (await mx.WaitForAsync(3, Patience)).Count);
    }

    [Fact]
    public async Task No_more_than_relay_maxConnections_sessions_reach_the_relay_at_once()
    {
        // Story: four domains' mail goes out at once through a relay that holds every session until released;
        // with relay.maxConnections = 2, only two sessions may be open at a time.
        await using var world = LoopbackWorld.Create();
        var relay = world.AddRelay("relay.busy.test", new SinkOptions());
        var release = new TaskCompletionSource();
        relay.BeforeAccept = () => release.Task;
        await using var node = await TestNode.StartAsync(world, FastRetries);
        await node.ConfigureAsync($$"""{ "mode": "RelayAll", "relay": { "host": "relay.busy.test", "port": {{relay.Endpoint.Port}}, "maxConnections": 2 } }""");

        for (var i = 0; i < 4; i++)
        {
            await node.SendAsync(TestNode.NewMessage("app@sender.test", [$"x@d{i}.test"], $"domain {i}"));
        }

        using (var cts = new CancellationTokenSource(Patience))
        {
            while (relay.SessionCount < 2)
            {
                await Task.Delay(20, cts.Token);
            }
        }

        release.SetResult();
        Assert.Equal(4, (await relay.WaitForAsync(4, Patience)).Count);
        Assert.Equal(2, relay.MaxConcurrentSessions);
    }
}
