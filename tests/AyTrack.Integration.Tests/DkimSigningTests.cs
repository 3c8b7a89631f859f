using System.Diagnostics;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using AyTrack.Contracts;
using AyTrack.Core.Dkim;
using AyTrack.Integration.Tests.Support;
using AyTrack.Loopback;
using DnsClient;
using Microsoft.Extensions.DependencyInjection;
using MimeKit;
using MimeKit.Cryptography;
using Org.BouncyCastle.Crypto;
using Xunit;
using Xunit.Abstractions;

namespace AyTrack.Integration.Tests;

/// <summary>
/// Keys added through the admin API sign mail from their domain before the 250; the public keys are served as TXT by
/// the loopback DNS server, and what the receiving MX got verifies with MimeKit's verifier and with dkimpy, an
/// independent implementation.
/// </summary>
public sealed class DkimSigningTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private static readonly string[] Bodies =
    [
        "From: Alice <alice@signer.test>\r\nTo: bob@alpha.test\r\nSubject: plain\r\nMessage-ID: <7bit@signer.test>\r\n\r\nHello  there \r\n\r\n\r\n",
        "From: =?utf-8?q?Zo=C3=AB?= <zoe@news.signer.test>\r\nTo: bob@alpha.test\r\nSubject: 8bit\r\nMessage-ID: <8bit@signer.test>\r\nMIME-Version: 1.0\r\n" +
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße aus Köln — ünïcödé\r\n",
        "From: alice@signer.test\r\nTo: bob@alpha.test\r\nSubject: parts\r\nMessage-ID: <multipart@signer.test>\r\nMIME-Version: 1.0\r\n" +
        "Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\npreamble\r\n--b1\r\nContent-Type: text/plain\r\n\r\nplain part\r\n" +
        "--b1\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<p>html=\r\n part</p>\r\n--b1--\r\nepilogue\r\n",
    ];

    [Fact]
    public async Task Mail_from_a_domain_with_keys_arrives_dual_signed_and_verifies_with_mimekit_and_dkimpy()
    {
        await using var world = LoopbackWorld.Create();
        var sink = world.AddDomain("alpha.test");
        await using var node = await TestNode.StartAsync(world);

        var rsa = await AddKeyAsync(node, "signer.test", "r2026", "rsa");
        var ed = await AddKeyAsync(node, "signer.test", "e2026", "ed25519");
        // The first key signs at once; the second waits until its record is published, then joins it (dual signing).
        Assert.True(rsa.Active && !ed.Active);
        (await node.Http.PostAsync("/api/dkim/signer.test/e2026/activate", null)).EnsureSuccessStatusCode();
        var records = new Dictionary<string, string>();
        foreach (var key in new[] { rsa, ed })
        {
            world.Dns.AddTxt(key.DnsName, DkimDnsRecord.Chunks(key.DnsRecord).ToList());
            records[key.DnsName] = key.DnsRecord;
        }

        // The listener signs once this node's agent holds both keys (published by the key singleton).
        var live = node.Services.GetRequiredService<LiveDkimKeys>();
        await Eventually.UntilAsync(() => live.SigningKeysFor("signer.test").Count == 2, Patience);

        var ids = new List<string>();
        foreach (var body in Bodies)
        {
            var message = MimeMessage.Load(new MemoryStream(Encoding.UTF8.GetBytes(body)));
            await node.SendAsync(message, "bounces@signer.test", "bob@alpha.test");
            ids.Add(message.MessageId!);
        }

        using (var injected = new ByteArrayContent(Encoding.ASCII.GetBytes("From: api@signer.test\r\nTo: bob@alpha.test\r\nSubject: injected\r\n\r\nvia the API\r\n")))
        {
            injected.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("message/rfc822");
            var reply = await node.Http.PostAsync("/api/messages?from=api@signer.test&to=bob@alpha.test", injected);
            Assert.Equal(System.Net.HttpStatusCode.Accepted, reply.StatusCode);
            ids.Add((await reply.Content.ReadFromJsonAsync<InjectedMessage>())!.MessageId.Trim('<', '>'));
        }

        var unsigned = TestNode.NewMessage("carol@unsigned.test", ["bob@alpha.test"], "no key for this domain");
        await node.SendAsync(unsigned);
        ids.Add(unsigned.MessageId!);

        var received = await sink.WaitForMessageIdsAsync(ids, Patience);
        var verifier = new DkimVerifier(new DkimVerification.LoopbackDnsKeys(world));
        foreach (var message in received)
        {
            var parsed = message.Parse();
            var signatures = parsed.Headers.Where(h => h.Id == HeaderId.DkimSignature).ToList();
            if (parsed.MessageId == unsigned.MessageId)
            {
                Assert.Empty(signatures);
                continue;
            }

            Assert.Equal(2, signatures.Count);
            Assert.All(signatures, s => Assert.True(verifier.Verify(parsed, s), $"MimeKit: {parsed.MessageId} {s.Value}"));
            var dkimpy = await DkimVerification.DkimpyAsync(message.Data, records);
            output.WriteLine($"{parsed.MessageId}: {dkimpy}");
            Assert.Equal("2 verified", dkimpy);
        }
    }

    [Fact]
    public async Task A_second_key_waits_inactive_until_activated_and_bad_requests_name_the_field()
    {
        await using var world = LoopbackWorld.Create();
        var node = await TestNode.StartAsync(world);
        var first = await AddKeyAsync(node, "Signer.TEST", "s1", "rsa");
        Assert.Equal(("signer.test", true), (first.Domain, first.Active));
        var second = await AddKeyAsync(node, "signer.test", "s2", "rsa");
        Assert.False(second.Active);

        var activated = await node.Http.PostAsync("/api/dkim/signer.test/s2/activate", null);
        activated.EnsureSuccessStatusCode();
        var keys = await node.Http.GetFromJsonAsync<List<DkimKeyView>>("/api/dkim");
        Assert.Equal([("s1", false), ("s2", true)], keys!.Select(k => (k.Selector, k.Active)));
        var text = await node.Http.GetStringAsync("/api/dkim");
        Assert.DoesNotContain("PRIVATE", text, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("sealed", text, StringComparison.OrdinalIgnoreCase);

        foreach (var (body, field) in new[]
                 {
                     (new DkimKeyRequest("signer.test", "bad_selector", "rsa"), "selector"),
                     (new DkimKeyRequest("not a domain", "s3", "rsa"), "domain"),
                     (new DkimKeyRequest("signer.test", "s3", "dsa"), "algorithm"),
                     (new DkimKeyRequest("signer.test", "s1", "rsa"), "selector"),
                 })
        {
            var refused = await node.Http.PostAsJsonAsync("/api/dkim", body);
            Assert.Equal(System.Net.HttpStatusCode.BadRequest, refused.StatusCode);
            Assert.Contains($"\"{field}\"", await refused.Content.ReadAsStringAsync());
        }

        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await node.Http.PostAsync("/api/dkim/signer.test/nope/activate", null)).StatusCode);
        (await node.Http.DeleteAsync("/api/dkim/signer.test/s1")).EnsureSuccessStatusCode();
        keys = await node.Http.GetFromJsonAsync<List<DkimKeyView>>("/api/dkim");
        Assert.Equal(["s2"], keys!.Select(k => k.Selector));

        // The private keys are in the journal only sealed; without the secrets key they could never be opened again,
        // so the node refuses to start rather than make a new key.
        foreach (var file in Directory.EnumerateFiles(node.DataDir, "*", SearchOption.AllDirectories))
        {
            Assert.True((await File.ReadAllBytesAsync(file)).AsSpan().IndexOf("PRIVATE KEY"u8) < 0, $"{file} holds a private key in clear");
        }

        var dataDir = node.DataDir;
        node.KeepDataDir = true;
        await node.DisposeAsync();
        var keyFile = Path.Combine(dataDir, "secrets.key");
        File.Move(keyFile, keyFile + ".away");
        var noKey = Assert.Throws<InvalidOperationException>(() => AyTrack.Node.NodeHost.Build([.. world.NodeArguments(dataDir)]));
        Assert.Contains(keyFile + " is missing", noKey.Message);
        Directory.Delete(dataDir, true);
    }

    internal static async Task<DkimKeyView> AddKeyAsync(TestNode node, string domain, string selector, string algorithm)
    {
        var reply = await node.Http.PostAsJsonAsync("/api/dkim", new DkimKeyRequest(domain, selector, algorithm));
        Assert.Equal(System.Net.HttpStatusCode.Created, reply.StatusCode);
        return (await reply.Content.ReadFromJsonAsync<DkimKeyView>())!;
    }
}
