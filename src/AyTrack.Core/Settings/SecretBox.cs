using System.Security.Cryptography;
using System.Text;

namespace AyTrack.Core.Settings;

/// <summary>
/// Encrypts secrets at rest (AES-256-GCM) with a key from AyTrack:Secrets:KeyFile: generated once, readable by its
/// owner only, and shared by the nodes of a cluster so each can read what another wrote.
/// </summary>
public sealed class SecretBox
{
    private const int NonceSize = 12;
    private const int TagSize = 16;
    private readonly byte[] _key;

    private SecretBox(byte[] key) => _key = key;

    /// <summary>
    /// Reads the key, or makes one when there is none yet and <paramref name="sealedSecretsExist"/> says nothing was
    /// sealed before: a new key can never open what an old one sealed, so a missing key with sealed settings stops the
    /// node instead of quietly starting over. An unreadable key is never replaced.
    /// </summary>
    public static SecretBox LoadOrCreate(string keyFile, Func<string?> sealedSecretsExist)
    {
        if (File.Exists(keyFile))
        {
            string text;
            try
            {
                text = File.ReadAllText(keyFile);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new InvalidOperationException($"AyTrack:Secrets:KeyFile {keyFile} cannot be read ({e.Message}); it is never replaced, " +
                                                    "because settings sealed with it could not be opened with another", e);
            }

            byte[] existing;
            try
            {
                existing = Convert.FromBase64String(text.Trim());
            }
            catch (FormatException)
            {
                existing = [];
            }

            if (existing.Length != 32)
            {
                throw new InvalidOperationException($"AyTrack:Secrets:KeyFile {keyFile} does not hold a 256-bit key");
            }

            return new SecretBox(existing);
        }

        if (sealedSecretsExist() is { } where)
        {
            throw new InvalidOperationException($"AyTrack:Secrets:KeyFile {keyFile} is missing, but {where} holds secrets sealed with a key: " +
                                                "copy the cluster's secrets.key to that path (docs/security.md). A new key would not open them, so none is made.");
        }

        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(keyFile))!);
        var key = RandomNumberGenerator.GetBytes(32);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var stream = new FileStream(keyFile, options))
        using (var writer = new StreamWriter(stream))
        {
            writer.Write(Convert.ToBase64String(key));
        }

        return new SecretBox(key);
    }

    /// <summary>A key for a store that has never sealed anything (tests, tools).</summary>
    public static SecretBox LoadOrCreate(string keyFile) => LoadOrCreate(keyFile, () => null);

    public string Seal(Secret secret)
    {
        var plain = Encoding.UTF8.GetBytes(secret.Reveal());
        var output = new byte[NonceSize + TagSize + plain.Length];
        var nonce = output.AsSpan(0, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(_key, TagSize);
        aes.Encrypt(nonce, plain, output.AsSpan(NonceSize + TagSize), output.AsSpan(NonceSize, TagSize));
        return Convert.ToBase64String(output);
    }

    /// <summary>Opens what <see cref="Seal"/> made; anything else (another key, a damaged or forged text) is a CryptographicException.</summary>
    public Secret Open(string sealedText)
    {
        byte[] input;
        try
        {
            input = Convert.FromBase64String(sealedText);
        }
        catch (FormatException)
        {
            throw new CryptographicException("not a sealed secret");
        }

        if (input.Length < NonceSize + TagSize)
        {
            throw new CryptographicException("not a sealed secret");
        }

        var plain = new byte[input.Length - NonceSize - TagSize];
        using var aes = new AesGcm(_key, TagSize);
        aes.Decrypt(input.AsSpan(0, NonceSize), input.AsSpan(NonceSize + TagSize), input.AsSpan(NonceSize, TagSize), plain);
        return new Secret(Encoding.UTF8.GetString(plain));
    }
}
