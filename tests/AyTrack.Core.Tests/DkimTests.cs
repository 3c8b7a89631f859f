using System.Text;
using AyTrack.Core.Dkim;
using MimeKit;
using MimeKit.Cryptography;
using Org.BouncyCastle.Crypto;
using Xunit;

namespace AyTrack.Core.Tests;

public sealed class DkimKeyringTests
{
    private static readonly DateTimeOffset At = new(2026, 11, 30, 12, 0, 0, TimeSpan.Zero);

    private static DkimKeyEntry Key(string domain, string selector, DkimAlgorithm algorithm, bool active) =>
        new(domain, selector, algorithm, "cHVibGlj", "sealed", active, At);

    [Fact]
    public void A_second_key_of_an_algorithm_waits_inactive_until_activated_and_the_old_one_then_stops_signing()
    {
        var ring = DkimKeyring.Empty;
        Assert.True(ring.WouldActivate("example.test"));
        ring = ring.Added(Key("example.test", "s1", DkimAlgorithm.Rsa, true));
        Assert.False(ring.WouldActivate("example.test"));
        Assert.True(ring.WouldActivate("other.test"));
        ring = ring.Added(Key("example.test", "s2", DkimAlgorithm.Rsa, false)).Added(Key("example.test", "e1", DkimAlgorithm.Ed25519, false));
        Assert.Equal(["s1"], ring.SigningKeysFor("example.test").Select(k => k.Selector));

        // Dual signing: activating the Ed25519 key joins the RSA one instead of replacing it.
        ring = ring.Activated("example.test", "e1");
        Assert.Equal(["s1", "e1"], ring.SigningKeysFor("example.test").Select(k => k.Selector));

        ring = ring.Activated("example.test", "s2");
        Assert.Equal(["s2", "e1"], ring.SigningKeysFor("example.test").Select(k => k.Selector));
        Assert.False(ring.Find("example.test", "s1")!.Active);

        ring = ring.Removed("example.test", "s1");
        Assert.Null(ring.Find("example.test", "s1"));
        Assert.Equal(2, ring.Keys.Count);
    }

    [Fact]
    public void Mail_from_a_subdomain_is_signed_by_the_nearest_domain_with_keys_and_other_mail_not_at_all()
    {
        var ring = DkimKeyring.Empty.Added(Key("example.test", "s1", DkimAlgorithm.Rsa, true))
            .Added(Key("news.example.test", "n1", DkimAlgorithm.Ed25519, true));

        Assert.Equal("news.example.test", Assert.Single(ring.SigningKeysFor("NEWS.Example.test")).Domain);
        Assert.Equal("example.test", Assert.Single(ring.SigningKeysFor("eu.shop.example.test")).Domain);
        Assert.Empty(ring.SigningKeysFor("other.test"));
        Assert.Empty(ring.SigningKeysFor("test"));
        Assert.Empty(DkimKeyring.Empty.Added(Key("example.test", "s1", DkimAlgorithm.Rsa, false)).SigningKeysFor("example.test"));
    }

    [Fact]
    public void A_domain_holds_at_most_ten_keys()
    {
        var ring = Enumerable.Range(0, DkimKeyring.MaxKeysPerDomain).Aggregate(DkimKeyring.Empty,
            (r, i) => r.Added(Key("example.test", $"s{i}", DkimAlgorithm.Rsa, i == 0)));
        Assert.Contains("already has 10 keys", ring.TooMany("example.test"));
        Assert.Null(ring.TooMany("other.test"));
    }

    [Theory]
    [InlineData("exa mple.test", "s1", "domain")]
    [InlineData("example.test", "", "selector")]
    [InlineData("example.test", "-bad", "selector")]
    [InlineData("example.test", "a_b", "selector")]
    [InlineData("example.test", "s1..x", "selector")]
    public void A_bad_domain_or_selector_is_named(string domain, string selector, string field)
    {
        Assert.False(DkimKeyring.TryNormalize(domain, selector, out _, out _, out var problem));
        Assert.Equal(field, problem!.Value.Field);
    }

    [Fact]
    public void Names_are_normalized()
    {
        Assert.True(DkimKeyring.TryNormalize("Example.TEST.", " S2026.Mail ", out var domain, out var selector, out _));
        Assert.Equal(("example.test", "s2026.mail"), (domain, selector));
    }

    [Fact]
    public void An_rsa_record_is_split_into_strings_of_at_most_255_octets_that_join_to_the_record()
    {
        var pair = DkimKeyMaterial.Generate(DkimAlgorithm.Rsa);
        var key = new DkimKeyEntry("example.test", "s1", DkimAlgorithm.Rsa, pair.PublicKey, "sealed", true, At);
        var value = DkimDnsRecord.Value(key);
        Assert.StartsWith("v=DKIM1; k=rsa; p=MIIBIjAN", value);
        var chunks = DkimDnsRecord.Chunks(value).ToList();
        Assert.True(chunks.Count > 1);
        Assert.All(chunks, c => Assert.InRange(c.Length, 1, 255));
        Assert.Equal(value, string.Concat(chunks));
        Assert.StartsWith("s1._domainkey.example.test. IN TXT \"v=DKIM1; k=rsa; p=", DkimDnsRecord.ZoneLine(key));
    }
}

/// <summary>Signatures made by <see cref="DkimMessageSigner"/> in front of the unchanged octets verify with MimeKit's verifier.</summary>
public sealed class DkimSigningTests
{
    private static readonly DateTimeOffset At = new(2026, 11, 30, 12, 0, 0, TimeSpan.Zero);

    public static TheoryData<string, string> Messages => new()
    {
        { "7bit", "From: Alice <alice@example.test>\r\nTo: bob@alpha.test\r\nSubject: plain\r\nDate: Mon, 30 Nov 2026 12:00:00 +0000\r\nMessage-ID: <a@example.test>\r\n\r\nHello  there \r\n\r\n\r\n" },
        { "8bit", "From: Zoë <zoe@example.test>\r\nTo: bob@alpha.test\r\nSubject: =?utf-8?q?gr=C3=BC=C3=9Fe?=\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße aus Köln — ünïcödé\r\n" },
        { "multipart", "From: alice@example.test\r\nTo: bob@alpha.test\r\nSubject: parts\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b1\"\r\n\r\npreamble\r\n--b1\r\nContent-Type: text/plain\r\n\r\nplain part\r\n--b1\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<p>html=\r\n part</p>\r\n--b1--\r\nepilogue\r\n" },
    };

    [Theory]
    [MemberData(nameof(Messages))]
    public void Rsa_and_ed25519_signatures_verify_over_the_unchanged_message(string kind, string text)
    {
        var (keys, locator) = KeysFor("example.test", ("r1", DkimAlgorithm.Rsa), ("e1", DkimAlgorithm.Ed25519));
        var original = Encoding.UTF8.GetBytes(text);

        var header = DkimMessageSigner.Sign(new MemoryStream(original), keys);
        var signed = header.Concat(original).ToArray();

        Assert.True(signed.AsSpan(header.Length).SequenceEqual(original), kind);
        Assert.DoesNotContain((byte)'\n', header.Where((b, i) => b == '\n' && (i == 0 || header[i - 1] != '\r')));
        var message = MimeMessage.Load(new MemoryStream(signed));
        var signatures = message.Headers.Where(h => h.Id == HeaderId.DkimSignature).ToList();
        Assert.Equal(2, signatures.Count);
        var verifier = new DkimVerifier(locator);
        foreach (var signature in signatures)
        {
            Assert.True(verifier.Verify(message, signature), $"{kind}: {signature.Value}");
            var tags = signature.Value.Replace(" ", string.Empty).Replace("\r\n", string.Empty).Replace("\t", string.Empty);
            Assert.Contains("c=relaxed/relaxed", tags);
            Assert.Contains("h=from:from:", tags.ToLowerInvariant());
            Assert.DoesNotContain(";l=", tags);
        }
    }

    [Fact]
    public void A_changed_body_or_an_added_from_breaks_the_signature()
    {
        var (keys, locator) = KeysFor("example.test", ("r1", DkimAlgorithm.Rsa));
        var original = Encoding.ASCII.GetBytes("From: alice@example.test\r\nTo: bob@alpha.test\r\nSubject: s\r\n\r\nthe body\r\n");
        var header = Encoding.ASCII.GetString(DkimMessageSigner.Sign(new MemoryStream(original), keys));
        var verifier = new DkimVerifier(locator);

        bool Verifies(string text)
        {
            var message = MimeMessage.Load(new MemoryStream(Encoding.ASCII.GetBytes(text)));
            return verifier.Verify(message, message.Headers.First(h => h.Id == HeaderId.DkimSignature));
        }

        var intact = header + Encoding.ASCII.GetString(original);
        Assert.True(Verifies(intact));
        Assert.False(Verifies(intact.Replace("the body", "the b0dy")));
        Assert.False(Verifies(intact.Replace("To: bob", "From: mallory@evil.test\r\nTo: bob")));
    }

    [Fact]
    public void A_signature_the_message_already_carries_is_kept_and_not_signed_over()
    {
        var (keys, locator) = KeysFor("example.test", ("r1", DkimAlgorithm.Rsa));
        var original = Encoding.ASCII.GetBytes("DKIM-Signature: v=1; a=rsa-sha256; d=upstream.test; s=x; h=from; bh=AAAA; b=BBBB\r\n" +
                                               "From: alice@example.test\r\nTo: bob@alpha.test\r\nSubject: s\r\n\r\nbody\r\n");

        var header = DkimMessageSigner.Sign(new MemoryStream(original), keys);

        var message = MimeMessage.Load(new MemoryStream([.. header, .. original]));
        var signatures = message.Headers.Where(h => h.Id == HeaderId.DkimSignature).ToList();
        Assert.Equal(2, signatures.Count);
        Assert.Contains("d=upstream.test", signatures[1].Value);
        Assert.True(new DkimVerifier(locator).Verify(message, signatures[0]));
        Assert.DoesNotContain("dkim-signature", signatures[0].Value.Split("h=")[1].Split(';')[0], StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void The_from_domain_is_read_from_the_header_block()
    {
        Assert.Equal("example.test", DkimMessageSigner.FromDomain(new MemoryStream("Subject: x\r\nFrom: \"A, B\" <a@Example.test>\r\n\r\nbody\r\n"u8.ToArray())));
        Assert.Null(DkimMessageSigner.FromDomain(new MemoryStream("Subject: x\r\n\r\nFrom: a@example.test\r\n"u8.ToArray())));
    }

    [Fact]
    public void The_RSA_signature_made_with_dotnet_RSA_is_the_same_octets_BouncyCastle_makes()
    {
        // RSASSA-PKCS1-v1_5 is deterministic: the OpenSSL-backed signer must give exactly what MimeKit's own would.
        var (keys, _) = KeysFor("example.test", ("s1", DkimAlgorithm.Rsa));
        var key = Assert.Single(keys);
        var data = Encoding.ASCII.GetBytes("from:A <a@example.test>\r\nsubject:hello\r\ndkim-signature:v=1; a=rsa-sha256; b=");
        var bouncyCastle = new Org.BouncyCastle.Crypto.Signers.RsaDigestSigner(new Org.BouncyCastle.Crypto.Digests.Sha256Digest());
        bouncyCastle.Init(true, key.PrivateKey);
        bouncyCastle.BlockUpdate(data, 0, data.Length);

        Assert.NotNull(key.Rsa);
        var ours = new SystemRsaSha256Signer(key.Rsa);
        ours.Init(true, key.PrivateKey);
        ours.Update(data[0]);
        ours.BlockUpdate(data, 1, 10);
        ours.BlockUpdate(data.AsSpan(11));

        Assert.Equal(bouncyCastle.GenerateSignature(), ours.GenerateSignature());
        Assert.Null(KeysFor("example.test", ("e1", DkimAlgorithm.Ed25519)).Item1[0].Rsa);
    }

    private static (IReadOnlyList<DkimSigningKey>, TxtLocator) KeysFor(string domain, params (string Selector, DkimAlgorithm Algorithm)[] specs)
    {
        var locator = new TxtLocator();
        var keys = new List<DkimSigningKey>();
        foreach (var (selector, algorithm) in specs)
        {
            var pair = DkimKeyMaterial.Generate(algorithm);
            var entry = new DkimKeyEntry(domain, selector, algorithm, pair.PublicKey, "sealed", true, At);
            locator.Records[entry.DnsName] = DkimDnsRecord.Value(entry);
            keys.Add(new DkimSigningKey(entry, DkimKeyMaterial.ReadPrivateKey(pair.PrivateKeyPem)));
        }

        return (keys, locator);
    }

    /// <summary>The public keys as the TXT records would publish them.</summary>
    private sealed class TxtLocator : DkimPublicKeyLocatorBase
    {
        public Dictionary<string, string> Records { get; } = new(StringComparer.OrdinalIgnoreCase);

        public override AsymmetricKeyParameter LocatePublicKey(string methods, string domain, string selector, CancellationToken cancellationToken = default) =>
            GetPublicKey(Records[$"{selector}._domainkey.{domain}"]);

        public override Task<AsymmetricKeyParameter> LocatePublicKeyAsync(string methods, string domain, string selector, CancellationToken cancellationToken = default) =>
            Task.FromResult(LocatePublicKey(methods, domain, selector, cancellationToken));
    }
}
