using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace AyTrack.Contracts.Cluster;

/// <summary>
/// Makes and stores the certificates of the cluster's mutual TLS: a private CA, node certificates it issues, or a
/// self-signed node certificate. Shared by the node (its own certificate on a first start) and the CLI
/// (`aytrack cluster cert create-ca | create`), so both make the same kind. ECDSA P-256 keys; node certificates are
/// for both TLS client and server authentication, because every node both dials and accepts.
/// </summary>
public static class ClusterCertificates
{
    public static readonly TimeSpan NodeValidity = TimeSpan.FromDays(825);
    public static readonly TimeSpan CaValidity = TimeSpan.FromDays(3650);

    public static X509Certificate2 CreateCa(string commonName, DateTimeOffset now)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName($"CN={Escape(commonName)}"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        return request.CreateSelfSigned(now.AddMinutes(-5), now + CaValidity);
    }

    /// <summary>A node certificate issued by <paramref name="ca"/>, or self-signed without one.</summary>
    public static X509Certificate2 CreateNode(string commonName, IEnumerable<string> names, X509Certificate2? ca, DateTimeOffset now)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName($"CN={Escape(commonName)}"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1", "serverAuth"), new Oid("1.3.6.1.5.5.7.3.2", "clientAuth")], false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var alternativeNames = new SubjectAlternativeNameBuilder();
        foreach (var name in names.Append(commonName).Distinct(StringComparer.OrdinalIgnoreCase))
        {
            if (IPAddress.TryParse(name, out var address))
            {
                alternativeNames.AddIpAddress(address);
            }
            else
            {
                alternativeNames.AddDnsName(name);
            }
        }

        request.CertificateExtensions.Add(alternativeNames.Build());
        var notBefore = now.AddMinutes(-5);
        if (ca is null)
        {
            return request.CreateSelfSigned(notBefore, now + NodeValidity);
        }

        var notAfter = now + NodeValidity < ca.NotAfter ? now + NodeValidity : new DateTimeOffset(ca.NotAfter);
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f;
        using var issued = request.Create(ca, notBefore, notAfter, serial);
        return issued.CopyWithPrivateKey(key);
    }

    /// <summary>Writes the certificate with its private key as PKCS#12, readable by its owner only, replacing any file atomically.</summary>
    public static void WritePkcs12(X509Certificate2 certificate, string path, string? password)
    {
        WriteOwnerOnly(path, certificate.Export(X509ContentType.Pkcs12, string.IsNullOrEmpty(password) ? null : password));
    }

    /// <summary>Writes the certificate alone (no key) as PEM: what peers need to trust a CA.</summary>
    public static void WritePem(X509Certificate2 certificate, string path) =>
        File.WriteAllText(path, certificate.ExportCertificatePem() + "\n");

    public static X509Certificate2 LoadPkcs12(string path, string? password) =>
        X509CertificateLoader.LoadPkcs12FromFile(path, string.IsNullOrEmpty(password) ? null : password, X509KeyStorageFlags.Exportable);

    /// <summary>A certificate alone, from PEM, DER or PKCS#12 (a CA's key, if the file has one, is not kept).</summary>
    public static X509Certificate2 LoadCertificate(string path, string? password = null)
    {
        var bytes = File.ReadAllBytes(path);
        if (X509Certificate2.GetCertContentType(bytes) == X509ContentType.Pkcs12)
        {
            using var withKey = X509CertificateLoader.LoadPkcs12(bytes, string.IsNullOrEmpty(password) ? null : password);
            return X509CertificateLoader.LoadCertificate(withKey.RawData);
        }

        return X509CertificateLoader.LoadCertificate(bytes.AsSpan().IndexOf("-----BEGIN"u8) >= 0
            ? X509Certificate2.CreateFromPem(System.Text.Encoding.ASCII.GetString(bytes)).RawData
            : bytes);
    }

    /// <summary>The SHA-256 thumbprint in lower-case hexadecimal, as AyTrack:Cluster:Tls:TrustedThumbprints lists it.</summary>
    public static string Sha256(X509Certificate2 certificate) => Convert.ToHexStringLower(certificate.GetCertHash(HashAlgorithmName.SHA256));

    private static void WriteOwnerOnly(string path, byte[] content)
    {
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var temporary = full + ".tmp-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var stream = new FileStream(temporary, options))
        {
            stream.Write(content);
            stream.Flush(flushToDisk: true);
        }

        File.Move(temporary, full, overwrite: true);
    }

    private static string Escape(string commonName) => commonName.Replace("\\", "\\\\").Replace(",", "\\,").Replace("=", "\\=").Replace("+", "\\+");
}
