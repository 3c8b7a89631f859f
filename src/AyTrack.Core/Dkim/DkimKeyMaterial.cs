using System.Security.Cryptography;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.OpenSsl;
using Org.BouncyCastle.Pkcs;
using Org.BouncyCastle.Security;

namespace AyTrack.Core.Dkim;

/// <summary>A new key pair: the private key as PKCS#8 PEM (to be sealed at once) and the DNS record's p= value.</summary>
public sealed record DkimKeyPair(string PrivateKeyPem, string PublicKey);

/// <summary>Generates and reads DKIM keys. RSA keys are 2048 bits (RFC 8301 §3.2); Ed25519 keys follow RFC 8463.</summary>
public static class DkimKeyMaterial
{
    public static DkimKeyPair Generate(DkimAlgorithm algorithm)
    {
        if (algorithm == DkimAlgorithm.Rsa)
        {
            using var rsa = RSA.Create(2048);
            // p= is the base64 of the DER SubjectPublicKeyInfo (RFC 6376 §3.6.1).
            return new DkimKeyPair(rsa.ExportPkcs8PrivateKeyPem(), Convert.ToBase64String(rsa.ExportSubjectPublicKeyInfo()));
        }

        var generator = new Ed25519KeyPairGenerator();
        generator.Init(new Ed25519KeyGenerationParameters(new SecureRandom()));
        var pair = generator.GenerateKeyPair();
        var info = PrivateKeyInfoFactory.CreatePrivateKeyInfo(pair.Private);
        var pem = PemEncode("PRIVATE KEY", info.GetDerEncoded());
        // RFC 8463 §4.2: p= is the base64 of the raw 32-octet public key, not a SubjectPublicKeyInfo.
        return new DkimKeyPair(pem, Convert.ToBase64String(((Ed25519PublicKeyParameters)pair.Public).GetEncoded()));
    }

    /// <summary>The private key for MimeKit's signer.</summary>
    public static AsymmetricKeyParameter ReadPrivateKey(string pkcs8Pem)
    {
        using var reader = new StringReader(pkcs8Pem);
        return new PemReader(reader).ReadObject() switch
        {
            AsymmetricKeyParameter key => key,
            AsymmetricCipherKeyPair pair => pair.Private,
            var other => throw new FormatException($"not a private key ({other?.GetType().Name ?? "empty"})"),
        };
    }

    private static string PemEncode(string label, byte[] der) =>
        new string(PemEncoding.Write(label, der)) + "\n";
}
