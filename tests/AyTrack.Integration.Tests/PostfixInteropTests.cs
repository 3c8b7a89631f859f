using System.Net.Http.Json;
using System.Security.Cryptography;
using AyTrack.Integration.Tests.Support;
using AyTrack.Loopback;
using Microsoft.Extensions.DependencyInjection;
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

        // 4. A DKIM signature made before the 250 survives Postfix's relaying: MimeKit and dkimpy verify the copy the
        // final MX received (RSA and Ed25519).
        var records = new Dictionary<string, string>();
        foreach (var (selector, algorithm) in new[] { ("r1", "rsa"), ("e1", "ed25519") })
        {
            var key = await DkimSigningTests.AddKeyAsync(node, "sender.test", selector, algorithm);
            (await node.Http.PostAsync($"/api/dkim/sender.test/{selector}/activate", null)).EnsureSuccessStatusCode();
            world.Dns.AddTxt(key.DnsName, AyTrack.Core.Dkim.DkimDnsRecord.Chunks(key.DnsRecord).ToList());
            records[key.DnsName] = key.DnsRecord;
        }

        var live = node.Services.GetRequiredService<AyTrack.Core.Dkim.LiveDkimKeys>();
        await Eventually.UntilAsync(() => live.SigningKeysFor("sender.test").Count == 2, Patience);
        var signedMessage = TestNode.NewMessage("app@sender.test", ["three@final.test"], "signed, through postfix");
        signedMessage.Body = new MimeKit.Multipart("alternative")
        {
            new MimeKit.TextPart("plain") { Text = "plain part with ümlauts" },
            new MimeKit.TextPart("html") { Text = "<p>html part</p>" },
        };
        await node.SendAsync(signedMessage);
        var third = Assert.Single(await sink.WaitForMessageIdsAsync([signedMessage.MessageId!], Patience),
            m => m.Parse().MessageId == signedMessage.MessageId);
        var parsed = third.Parse();
        var verifier = new MimeKit.Cryptography.DkimVerifier(new DkimVerification.LoopbackDnsKeys(world));
        var signatures = parsed.Headers.Where(h => h.Id == MimeKit.HeaderId.DkimSignature).ToList();
        Assert.Equal(2, signatures.Count);
        Assert.All(signatures, s => Assert.True(verifier.Verify(parsed, s)));
        Assert.Equal("2 verified", await DkimVerification.DkimpyAsync(third.Data, records));
    }
}
