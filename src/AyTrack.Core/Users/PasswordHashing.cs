using System.Security.Cryptography;
using System.Text;

namespace AyTrack.Core.Users;

/// <summary>
/// Password storage for submission users: PBKDF2-HMAC-SHA256 with a random 16-octet salt and 600,000 iterations (the
/// OWASP Password Storage Cheat Sheet's figure for PBKDF2-SHA256), encoded as
/// <c>pbkdf2-sha256$iterations$salt$hash</c> (base64), so a later, higher count can be introduced without breaking
/// stored hashes. The comparison is constant-time.
/// </summary>
public static class PasswordHashing
{
    public const int Iterations = 600_000;
    private const string Scheme = "pbkdf2-sha256";
    private const int SaltSize = 16;
    private const int HashSize = 32;

    /// <summary>Passwords are bounded so that hashing one is bounded too (PBKDF2 hashes the password at every iteration's HMAC key setup).</summary>
    public const int MaxPasswordBytes = 1024;

    public const int MinPasswordLength = 8;

    public static string Hash(string password) => Hash(password, Iterations);

    /// <summary>For tests that need many hashes quickly; production code uses <see cref="Hash(string)"/>.</summary>
    public static string Hash(string password, int iterations)
    {
        var salt = RandomNumberGenerator.GetBytes(SaltSize);
        var hash = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, HashAlgorithmName.SHA256, HashSize);
        return $"{Scheme}${iterations}${Convert.ToBase64String(salt)}${Convert.ToBase64String(hash)}";
    }

    /// <summary>True when <paramref name="password"/> is the one <paramref name="encoded"/> was made from; false for any other or a malformed hash.</summary>
    public static bool Verify(string password, string encoded)
    {
        var parts = encoded.Split('$');
        if (parts.Length != 4 || parts[0] != Scheme || !int.TryParse(parts[1], out var iterations) || iterations is < 1 or > 10_000_000)
        {
            return false;
        }

        byte[] salt, expected;
        try
        {
            salt = Convert.FromBase64String(parts[2]);
            expected = Convert.FromBase64String(parts[3]);
        }
        catch (FormatException)
        {
            return false;
        }

        var bytes = Encoding.UTF8.GetBytes(password);
        if (bytes.Length > MaxPasswordBytes || expected.Length != HashSize)
        {
            return false;
        }

        var actual = Rfc2898DeriveBytes.Pbkdf2(bytes, salt, iterations, HashAlgorithmName.SHA256, HashSize);
        return CryptographicOperations.FixedTimeEquals(actual, expected);
    }

    /// <summary>A password's problem, or null when it may be set.</summary>
    public static string? Problem(string? password)
    {
        if (string.IsNullOrEmpty(password))
        {
            return "is required";
        }

        if (password.Length < MinPasswordLength)
        {
            return $"must be at least {MinPasswordLength} characters";
        }

        if (Encoding.UTF8.GetByteCount(password) > MaxPasswordBytes)
        {
            return $"must be at most {MaxPasswordBytes} octets";
        }

        // SASL PLAIN separates its fields with NUL (RFC 4616 §2); a password with one could never be sent.
        return password.Any(char.IsControl) ? "must not contain control characters" : null;
    }
}
