using System.Net.Http.Json;
using System.Security.Cryptography;
using AyTrack.Integration.Tests.Support;
using AyTrack.Loopback;
using Xunit;

namespace AyTrack.Integration.Tests;

/// <summary>
/// AyTrack relaying through a real third-party server: Postfix from Debian with STARTTLS, relaying onward to a
/// loopback sink. (SASL is not set up on this Postfix: it needs Dovecot or Cyrus SASL; AUTH is covered against the
/// in-process relay.)
/// </summary>
public sealed class PostfixInteropTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Mail_goes_through_Postfix_with_STARTTLS_refused_until_its_certificate_is_trusted()
    {
        await using var world = LoopbackWorld.Create();
        var sink = world.AddDomain("final.test");
        await using var postfix = await PostfixRelay.StartAsync(sink.Endpoint);
        world.Dns.AddAddress("postfix.relay.test", System.Net.IPAddress.Loopback);
        await using var node = await TestNode.StartAsync(world, "--AyTrack:Delivery:MinBackoff=00:00:00.500", "--AyTrack:Delivery:MaxBackoff=00:00:01");

        // 1. Opportunistic (relay.tls None): Postfix offers STARTTLS, the session is encrypted without validation.
        await node.ConfigureAsync($$"""{ "mode": "RelayAll", "relay": { "host": "postfix.relay.test", "port": {{PostfixRelay.Port}}, "tls": "None" } }""");
        await node.SendAsync(TestNode.NewMessage("app@sender.test", ["one@final.test"], "through postfix, opportunistic"));
        var first = Assert.Single(await sink.WaitForAsync(1, Patience));
        Assert.Equal(["one@final.test"], first.To);
        Assert.Contains("by postfix.relay.test", first.Text);
        var leg = await DeliveryLogReader.WaitForAsync(node.DataDir, "one@final.test", Patience, outcome: "delivered");
        Assert.True(leg.GetProperty("tls").GetBoolean());

        // 2. StartTls required and validated: Postfix's self-signed certificate is refused, with its fingerprint.
        await node.ConfigureAsync("""{ "relay": { "tls": "StartTls" } }""");
        await node.SendAsync(TestNode.NewMessage("app@sender.test", ["two@final.test"], "through postfix, validated"));
        var refused = await DeliveryLogReader.WaitForAsync(node.DataDir, "two@final.test", Patience, outcome: "deferred");
        var fingerprint = postfix.Certificate.GetCertHashString(HashAlgorithmName.SHA256).ToLowerInvariant();
        Assert.Contains($"SHA-256 {fingerprint}", refused.GetProperty("reply").GetString());

        // 3. Pinning Postfix's certificate lets the deferred message through on its retry.
        var pinned = await node.Http.PostAsJsonAsync("/api/certs", new { kind = "Pinned", pem = postfix.Certificate.ExportCertificatePem() });
        Assert.True(pinned.IsSuccessStatusCode);
        var both = await sink.WaitForAsync(2, Patience);
        Assert.Contains(both, m => m.To.SequenceEqual(["two@final.test"]));
        Assert.Contains("TLS", postfix.MailLog);
    }
}
