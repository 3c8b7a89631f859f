using AyTrack.Contracts.Cluster;
using AyTrack.Core.Cluster;
using Xunit;

namespace AyTrack.Core.Tests;

public sealed class ClusterPeerTrustTests
{
    private static readonly DateTimeOffset Now = DateTimeOffset.UtcNow;

    [Fact]
    public void With_a_ca_only_certificates_it_issued_make_a_peer()
    {
        using var ca = ClusterCertificates.CreateCa("cluster CA", Now);
        using var otherCa = ClusterCertificates.CreateCa("someone else's CA", Now);
        using var node = ClusterCertificates.CreateNode("node1", ["127.0.0.1"], ca, Now);
        using var stranger = ClusterCertificates.CreateNode("node1", ["127.0.0.1"], otherCa, Now);
        using var selfSigned = ClusterCertificates.CreateNode("node1", ["127.0.0.1"], null, Now);
        var trust = ClusterPeerTrust.IssuedBy(ClusterCertificates.LoadCertificate(WritePem(ca)));

        Assert.True(trust.Accepts(node, Now, out _));
        Assert.False(trust.Accepts(stranger, Now, out var reason));
        Assert.Contains("not issued by the cluster CA", reason);
        Assert.False(trust.Accepts(selfSigned, Now, out _));
        Assert.False(trust.Accepts(null, Now, out reason));
        Assert.Equal("no certificate presented", reason);
    }

    [Fact]
    public void Without_a_ca_only_pinned_thumbprints_make_a_peer_so_old_and_new_can_overlap()
    {
        using var old = ClusterCertificates.CreateNode("node", [], null, Now);
        using var renewed = ClusterCertificates.CreateNode("node", [], null, Now);
        using var other = ClusterCertificates.CreateNode("node", [], null, Now);
        var trust = ClusterPeerTrust.Pinned([ClusterCertificates.Sha256(old), ClusterCertificates.Sha256(renewed).ToUpperInvariant()]);

        Assert.True(trust.Accepts(old, Now, out _));
        Assert.True(trust.Accepts(renewed, Now, out _));
        Assert.False(trust.Accepts(other, Now, out var reason));
        Assert.Contains(ClusterCertificates.Sha256(other), reason);
    }

    [Fact]
    public void A_certificate_outside_its_validity_is_refused_even_when_pinned()
    {
        using var node = ClusterCertificates.CreateNode("node", [], null, Now);
        var trust = ClusterPeerTrust.Pinned([ClusterCertificates.Sha256(node)]);

        Assert.False(trust.Accepts(node, Now + ClusterCertificates.NodeValidity + TimeSpan.FromDays(1), out var reason));
        Assert.Contains("valid only", reason);
    }

    private static string WritePem(System.Security.Cryptography.X509Certificates.X509Certificate2 certificate)
    {
        var path = Path.Combine(Directory.CreateTempSubdirectory("aytrack-ca").FullName, "ca.crt");
        ClusterCertificates.WritePem(certificate, path);
        return path;
    }
}
