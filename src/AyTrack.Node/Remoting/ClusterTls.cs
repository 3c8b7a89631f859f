using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Akka.Event;
using Akka.Remote.Hosting;
using AyTrack.Contracts.Cluster;
using AyTrack.Core.Cluster;
using AyTrack.Core.Configuration;

namespace AyTrack.Node.Remoting;

/// <summary>
/// The cluster port's mutual TLS (Akka.Remote's DotNetty transport with <c>enable-ssl</c>): this node's certificate,
/// the rule a peer's certificate must pass (<see cref="ClusterPeerTrust"/>, never the system CA store), and a log of
/// refused handshakes that an attacker cannot turn into a flood.
/// </summary>
public sealed class ClusterTls
{
    public const string DefaultCertificateFile = "cluster.pfx";
    private static readonly TimeSpan LogEvery = TimeSpan.FromSeconds(10);

    private readonly object _gate = new();
    private readonly TimeProvider _time;
    private DateTimeOffset _lastLogged = DateTimeOffset.MinValue;
    private int _refusedSinceLog;

    private ClusterTls(X509Certificate2 certificate, ClusterPeerTrust trust, string certificateSource, TimeProvider time)
    {
        Certificate = certificate;
        Trust = trust;
        CertificateSource = certificateSource;
        _time = time;
    }

    public X509Certificate2 Certificate { get; }

    public ClusterPeerTrust Trust { get; }

    /// <summary>Where the certificate came from (the configured file, or the one made in the data directory).</summary>
    public string CertificateSource { get; }

    /// <summary>The last peer refused and why, for the log line when Akka.Remote stops the node over a failed handshake.</summary>
    public string? LastRefusal { get; private set; }

    /// <summary>
    /// Loads this node's certificate (AyTrack:Cluster:Tls:CertificatePath), or makes &lt;DataDir&gt;/cluster.pfx on a
    /// first start without one, and the trust rule. Null when TLS is off.
    /// </summary>
    public static ClusterTls? Load(ClusterMembershipOptions cluster, string dataDir, TimeProvider time)
    {
        var options = cluster.Tls;
        if (!options.Enabled)
        {
            return null;
        }

        X509Certificate2 certificate;
        string source;
        if (options.CertificatePath.Length > 0)
        {
            source = Path.GetFullPath(options.CertificatePath);
            certificate = Read(source, "AyTrack:Cluster:Tls:CertificatePath", () => ClusterCertificates.LoadPkcs12(source, options.CertificatePassword));
        }
        else
        {
            source = Path.Combine(dataDir, DefaultCertificateFile);
            if (!File.Exists(source))
            {
                using var made = ClusterCertificates.CreateNode(cluster.Hostname, ["localhost"], null, time.GetUtcNow());
                ClusterCertificates.WritePkcs12(made, source, null);
            }

            certificate = Read(source, "the node's own certificate", () => ClusterCertificates.LoadPkcs12(source, null));
        }

        if (!certificate.HasPrivateKey)
        {
            throw new InvalidOperationException($"{source} (AyTrack:Cluster:Tls:CertificatePath) holds no private key: the cluster's mutual TLS needs one");
        }

        ClusterPeerTrust trust;
        if (options.CaPath.Length > 0)
        {
            var caPath = Path.GetFullPath(options.CaPath);
            trust = ClusterPeerTrust.IssuedBy(Read(caPath, "AyTrack:Cluster:Tls:CaPath", () => ClusterCertificates.LoadCertificate(caPath)));
        }
        else
        {
            trust = ClusterPeerTrust.Pinned(options.TrustedThumbprints.Length > 0 ? options.TrustedThumbprints : [ClusterCertificates.Sha256(certificate)]);
        }

        return new ClusterTls(certificate, trust, source, time);
    }

    /// <summary>The options Akka.Remote.Hosting turns into <c>DotNettySslSetup</c>: mutual authentication, our validator.</summary>
    public SslOptions ToSslOptions() => new()
    {
        X509Certificate = Certificate,
        SuppressValidation = false,
        RequireMutualAuthentication = true,
        // Peers are identified by certificate, not by host name: nodes dial each other by address.
        ValidateCertificateHostname = false,
        CustomValidator = Validate,
    };

    /// <summary>
    /// Akka.Remote's validation callback, on both sides of every handshake. The system's verdict
    /// (<paramref name="errors"/>) is ignored on purpose: only the cluster's own rule makes a peer.
    /// </summary>
    public bool Validate(X509Certificate2? certificate, X509Chain? chain, string remotePeer, SslPolicyErrors errors, ILoggingAdapter log)
    {
        var now = _time.GetUtcNow();
        if (Trust.Accepts(certificate, now, out var reason))
        {
            return true;
        }

        int suppressed;
        lock (_gate)
        {
            LastRefusal = $"{remotePeer}: {reason}";
            if (now - _lastLogged < LogEvery)
            {
                _refusedSinceLog++;
                return false;
            }

            suppressed = _refusedSinceLog;
            _refusedSinceLog = 0;
            _lastLogged = now;
        }

        log.Warning("Cluster TLS: refused peer {0}: {1}{2}", remotePeer, reason,
            suppressed > 0 ? $" ({suppressed} more handshake(s) refused in the last {LogEvery.TotalSeconds:F0} s, not logged)" : string.Empty);
        return false;
    }

    /// <summary>
    /// Whether the actor system stopped because a TLS handshake this node started failed (Akka.Remote's reason, exit
    /// code 79). The reason type is internal to Akka.Remote; its name is what identifies it.
    /// </summary>
    public static bool IsHandshakeStop(Akka.Actor.CoordinatedShutdown.Reason? reason) => reason?.GetType().Name == "TlsHandshakeFailureReason";

    private static T Read<T>(string path, string what, Func<T> read)
    {
        try
        {
            return read();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
        {
            throw new InvalidOperationException($"{what}: cannot read {path}: {e.Message}", e);
        }
    }
}
