using System.Text.RegularExpressions;
using AyTrack.Core.Addresses;

namespace AyTrack.Core.Dkim;

/// <summary>The two signing algorithms: rsa-sha256 (RFC 6376) and ed25519-sha256 (RFC 8463).</summary>
public enum DkimAlgorithm
{
    Rsa,
    Ed25519,
}

/// <summary>
/// One DKIM key of a signing domain. The private key is only ever held sealed here (PKCS#8 PEM under the cluster's
/// secrets key); <see cref="PublicKey"/> is the base64 value of the DNS record's <c>p=</c> tag.
/// </summary>
public sealed record DkimKeyEntry(string Domain, string Selector, DkimAlgorithm Algorithm, string PublicKey, string SealedPrivateKey,
    bool Active, DateTimeOffset CreatedAt)
{
    /// <summary>Where the public key is published (RFC 6376 §3.6.2.1). Derived, so never part of a stored event.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public string DnsName => $"{Selector}._domainkey.{Domain}";
}

/// <summary>
/// The cluster's DKIM keys and the rules for changing them: a domain signs with at most one active key per algorithm
/// (RSA and Ed25519 together is dual signing, RFC 8463 §4). A key added to a domain that already signs starts
/// inactive, so its record can be published before <see cref="Activated"/> switches signing to it (replacing the
/// active key of its algorithm, or joining the other algorithm's key); a domain's first key signs at once.
/// </summary>
public sealed record DkimKeyring(IReadOnlyList<DkimKeyEntry> Keys)
{
    // RFC 6376 §3.1: a selector is a sub-domain (dot-separated labels of letters, digits and hyphens).
    private static readonly Regex SelectorSyntax = new(@"^(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*$", RegexOptions.CultureInvariant);

    public static DkimKeyring Empty { get; } = new([]);

    /// <summary>Keys one domain may hold (a rollover needs two per algorithm); more is a mistake or an attack.</summary>
    public const int MaxKeysPerDomain = 10;

    /// <summary>Keys in the cluster: every node opens each active one, and every change republishes them all.</summary>
    public const int MaxKeys = 1000;

    /// <summary>Why one more key for <paramref name="domain"/> cannot be added, or null when it can.</summary>
    public string? TooMany(string domain) =>
        Keys.Count(k => k.Domain == domain) >= MaxKeysPerDomain ? $"{domain} already has {MaxKeysPerDomain} keys; remove old ones first"
        : Keys.Count >= MaxKeys ? $"the cluster already has {MaxKeys} DKIM keys; remove unused ones first"
        : null;

    /// <summary>The domain in its canonical form and the selector in lower case, or the field and what is wrong.</summary>
    public static bool TryNormalize(string? domain, string? selector, out string normalizedDomain, out string normalizedSelector,
        out (string Field, string Problem)? problem)
    {
        normalizedSelector = selector?.Trim().ToLowerInvariant() ?? string.Empty;
        problem = null;
        if (!DomainName.TryNormalize(domain, out normalizedDomain, out var error))
        {
            problem = ("domain", error);
            return false;
        }

        if (normalizedSelector.Length is 0 or > 253 || !SelectorSyntax.IsMatch(normalizedSelector))
        {
            problem = ("selector", "must be a DNS label such as s2026 (letters, digits and hyphens; dots between labels)");
            return false;
        }

        return true;
    }

    public DkimKeyEntry? Find(string domain, string selector) =>
        Keys.FirstOrDefault(k => k.Domain == domain && k.Selector == selector);

    /// <summary>Whether a new key for this domain would sign at once: only when the domain does not sign yet.</summary>
    public bool WouldActivate(string domain) => !Keys.Any(k => k.Domain == domain && k.Active);

    public DkimKeyring Added(DkimKeyEntry key) => new([.. Keys, key]);

    /// <summary>This key signs from now on; the domain's other key of the same algorithm stops signing (but stays).</summary>
    public DkimKeyring Activated(string domain, string selector)
    {
        var target = Find(domain, selector) ?? throw new InvalidOperationException($"no key {selector} for {domain}");
        return new(Keys.Select(k => k.Domain != domain || k.Algorithm != target.Algorithm ? k : k with { Active = k.Selector == selector }).ToList());
    }

    public DkimKeyring Removed(string domain, string selector) =>
        new(Keys.Where(k => k.Domain != domain || k.Selector != selector).ToList());

    /// <summary>
    /// The active keys that sign mail from <paramref name="fromDomain"/>: those of the domain itself, else of its
    /// nearest parent that has any (a key for example.com signs news.example.com, whose d= is then example.com, which
    /// DMARC's relaxed alignment accepts). Empty: the mail passes unsigned.
    /// </summary>
    public IReadOnlyList<DkimKeyEntry> SigningKeysFor(string fromDomain)
    {
        var domain = fromDomain.Trim().TrimEnd('.').ToLowerInvariant();
        while (domain.Contains('.'))
        {
            var keys = Keys.Where(k => k.Active && k.Domain == domain).OrderBy(k => k.Algorithm).ToList();
            if (keys.Count > 0)
            {
                return keys;
            }

            domain = domain[(domain.IndexOf('.') + 1)..];
        }

        return [];
    }
}

/// <summary>The TXT record that publishes a key (RFC 6376 §3.6.1, RFC 8463 §4.2).</summary>
public static class DkimDnsRecord
{
    public static string Value(DkimKeyEntry key) =>
        $"v=DKIM1; k={(key.Algorithm == DkimAlgorithm.Rsa ? "rsa" : "ed25519")}; p={key.PublicKey}";

    /// <summary>
    /// The record as zone-file text: a TXT string holds at most 255 octets (RFC 1035 §3.3), so an RSA-2048 record is
    /// written as several quoted strings, which resolvers join (RFC 6376 §3.6.2.2).
    /// </summary>
    public static string ZoneLine(DkimKeyEntry key) =>
        $"{key.DnsName}. IN TXT {string.Join(' ', Chunks(Value(key)).Select(c => $"\"{c}\""))}";

    public static IEnumerable<string> Chunks(string value)
    {
        for (var i = 0; i < value.Length; i += 255)
        {
            yield return value.Substring(i, Math.Min(255, value.Length - i));
        }
    }
}
