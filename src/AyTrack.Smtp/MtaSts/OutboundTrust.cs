using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace AyTrack.Smtp.MtaSts;

/// <summary>
/// Validates outbound TLS certificates where validation is required (MX hosts under an enforced MTA-STS policy, the
/// policy servers): the system's trust, else a chain to one of the CAs of AyTrack:Delivery:TrustedCaPath. The name
/// must always match the host. There is no switch that accepts any certificate.
/// </summary>
public sealed class OutboundTrust
{
    private readonly X509Certificate2Collection _authorities;

    private OutboundTrust(X509Certificate2Collection authorities) => _authorities = authorities;

    public static OutboundTrust SystemOnly { get; } = new([]);

    /// <summary>Reads the PEM bundle; a missing or unreadable file names the key.</summary>
    public static OutboundTrust Load(string? path)
    {
        if (string.IsNullOrWhiteSpace(path))
        {
            return SystemOnly;
        }

        var authorities = new X509Certificate2Collection();
        try
        {
            authorities.ImportFromPemFile(path);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException or CryptographicException)
        {
            throw new FormatException($"AyTrack:Delivery:TrustedCaPath: {path} cannot be read as PEM certificates ({error.Message})", error);
        }

        if (authorities.Count == 0)
        {
            throw new FormatException($"AyTrack:Delivery:TrustedCaPath: {path} holds no PEM certificate");
        }

        return new OutboundTrust(authorities);
    }

    /// <summary>Null when the certificate is valid for the host; otherwise why not, naming subject, issuer and fingerprint.</summary>
    public string? Problem(string host, X509Certificate? certificate, SslPolicyErrors errors)
    {
        if (certificate is null)
        {
            return $"{host} presented no certificate";
        }

        if (errors == SslPolicyErrors.None)
        {
            return null;
        }

        using var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) == 0 && _authorities.Count > 0)
        {
            using var custom = new X509Chain();
            custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            custom.ChainPolicy.CustomTrustStore.AddRange(_authorities);
            if (custom.Build(leaf))
            {
                return null;
            }
        }

        return $"the certificate of {host} is not valid for it ({errors}): subject {leaf.Subject}, issuer {leaf.Issuer}, " +
               $"SHA-256 {leaf.GetCertHashString(HashAlgorithmName.SHA256).ToLowerInvariant()}";
    }
}
