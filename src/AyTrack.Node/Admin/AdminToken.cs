using System.Security.Cryptography;
using System.Text;

namespace AyTrack.Node.Admin;

/// <summary>
/// The bearer token every /api request must carry. Configured (AyTrack:Admin:Token, so cluster nodes share one) or
/// generated once into &lt;DataDir&gt;/admin.token, readable by the owner only.
/// </summary>
public sealed class AdminToken
{
    private readonly byte[] _token;

    private AdminToken(string token, string? file)
    {
        _token = Encoding.UTF8.GetBytes(token);
        FilePath = file;
    }

    /// <summary>Where the generated token lives; null when it came from configuration.</summary>
    public string? FilePath { get; }

    public static AdminToken Load(string configured, string dataDir)
    {
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return new AdminToken(configured.Trim(), null);
        }

        var path = Path.Combine(dataDir, "admin.token");
        if (File.Exists(path))
        {
            return new AdminToken(File.ReadAllText(path).Trim(), path);
        }

        var token = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var stream = new FileStream(path, options))
        using (var writer = new StreamWriter(stream))
        {
            writer.Write(token);
        }

        return new AdminToken(token, path);
    }

    /// <summary>Checks an Authorization header value in constant time.</summary>
    public bool Accepts(string? authorization)
    {
        const string scheme = "Bearer ";
        if (authorization is null || !authorization.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var presented = Encoding.UTF8.GetBytes(authorization[scheme.Length..].Trim());
        return CryptographicOperations.FixedTimeEquals(presented, _token);
    }

    public override string ToString() => "AdminToken(***)";
}
