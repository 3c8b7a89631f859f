using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using AyTrack.Loopback;

namespace AyTrack.Integration.Tests.Support;

/// <summary>Listener certificates on disk, as an operator (or certbot) puts them there.</summary>
public static class ListenerCertificates
{
    /// <summary>
    /// Writes <paramref name="host"/>'s certificate (from the loopback CA, leaf then CA) and its key as PEM files. The
    /// files are written beside their final names and renamed over them, as certbot's symlink swap and most
    /// deployment tools do, so a listener never reads half a file.
    /// </summary>
    public static (string Certificate, string Key) WritePem(TestCertificateAuthority ca, string host, string directory)
    {
        Directory.CreateDirectory(directory);
        var certificate = ca.Issue(host);
        var certificatePath = Path.Combine(directory, "fullchain.pem");
        var keyPath = Path.Combine(directory, "privkey.pem");
        using var key = certificate.GetRSAPrivateKey()!;
        Replace(keyPath, key.ExportPkcs8PrivateKeyPem());
        Replace(certificatePath, certificate.ExportCertificatePem() + "\n" + ca.Pem + "\n");
        return (certificatePath, keyPath);
    }

    /// <summary>Writes <paramref name="host"/>'s certificate and key as one password-protected PKCS#12 file.</summary>
    public static string WritePkcs12(TestCertificateAuthority ca, string host, string directory, string password)
    {
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, "listener.p12");
        File.WriteAllBytes(path, ca.Issue(host).Export(X509ContentType.Pkcs12, password));
        return path;
    }

    public static string CommonName(X509Certificate2? certificate) =>
        certificate?.GetNameInfo(X509NameType.SimpleName, forIssuer: false) ?? "(no certificate)";

    private static void Replace(string path, string content)
    {
        var temporary = path + ".new";
        File.WriteAllText(temporary, content);
        File.Move(temporary, path, overwrite: true);
    }
}
