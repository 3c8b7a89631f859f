using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace AyTrack.Core.Cluster;

/// <summary>
/// Decides whether a certificate presented on the cluster port makes its holder a peer. Never the system's CA store,
/// so a publicly issued certificate proves nothing here: either the chain ends at the cluster's own CA
/// (<see cref="X509ChainTrustMode.CustomRootTrust"/>), or the certificate is one of the pinned SHA-256 thumbprints
/// (old and new together while certificates rotate node by node).
/// </summary>
public sealed class ClusterPeerTrust
{
    private readonly X509Certificate2? _ca;
    private readonly HashSet<string> _thumbprints;

    private ClusterPeerTrust(X509Certificate2? ca, IEnumerable<string> thumbprints)
    {
        _ca = ca;
        _thumbprints = thumbprints.Select(t => t.Trim().ToLowerInvariant()).ToHashSet(StringComparer.Ordinal);
    }

    public static ClusterPeerTrust IssuedBy(X509Certificate2 ca) => new(ca, []);

    public static ClusterPeerTrust Pinned(IEnumerable<string> sha256Thumbprints) => new(null, sha256Thumbprints);

    /// <summary>What the rule is, for the start-up log.</summary>
    public string Describe() => _ca is not null
        ? $"peers need a certificate issued by {_ca.Subject} (sha256 {Sha256(_ca)})"
        : $"peers need a certificate with one of {_thumbprints.Count} pinned SHA-256 thumbprint(s)";

    public bool Accepts(X509Certificate2? peer, DateTimeOffset now, out string reason)
    {
        if (peer is null)
        {
            reason = "no certificate presented";
            return false;
        }

        if (now < peer.NotBefore || now > peer.NotAfter)
        {
            reason = $"certificate {peer.Subject} (sha256 {Sha256(peer)}) is valid only from {peer.NotBefore:u} to {peer.NotAfter:u}";
            return false;
        }

        if (_ca is null)
        {
            var thumbprint = Sha256(peer);
            reason = _thumbprints.Contains(thumbprint) ? string.Empty : $"certificate {peer.Subject} (sha256 {thumbprint}) is not in AyTrack:Cluster:Tls:TrustedThumbprints";
            return reason.Length == 0;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(_ca);
        // A private CA publishes no revocation list; removing a node means removing its certificate's CA or its host.
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = now.UtcDateTime;
        if (chain.Build(peer))
        {
            reason = string.Empty;
            return true;
        }

        reason = $"certificate {peer.Subject} (sha256 {Sha256(peer)}, issuer {peer.Issuer}) is not issued by the cluster CA: " +
                 string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).Distinct());
        return false;
    }

    public static string Sha256(X509Certificate2 certificate) => Convert.ToHexStringLower(certificate.GetCertHash(HashAlgorithmName.SHA256));
}
