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

    public static SecretBox LoadOrCreate(string keyFile)
    {
        if (File.Exists(keyFile))
        {
            var existing = Convert.FromBase64String(File.ReadAllText(keyFile).Trim());
            if (existing.Length != 32)
            {
                throw new InvalidOperationException($"AyTrack:Secrets:KeyFile {keyFile} does not hold a 256-bit key");
            }

            return new SecretBox(existing);
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

    public Secret Open(string sealedText)
    {
        var input = Convert.FromBase64String(sealedText);
        var plain = new byte[input.Length - NonceSize - TagSize];
        using var aes = new AesGcm(_key, TagSize);
        aes.Decrypt(input.AsSpan(0, NonceSize), input.AsSpan(NonceSize + TagSize), input.AsSpan(NonceSize, TagSize), plain);
        return new Secret(Encoding.UTF8.GetString(plain));
    }
}
