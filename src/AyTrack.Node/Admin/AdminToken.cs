using System.Security.Cryptography;
using System.Text;

namespace AyTrack.Node.Admin;

/// <summary>
/// The bearer token every /api request must carry. Configured (AyTrack:Admin:Token, so cluster nodes share one) or
/// generated once into &lt;DataDir&gt;/admin.token, readable by the owner only. A token shorter than
/// <see cref="MinimumLength"/> characters is refused at start: an empty file (a full disk at the first start) must
/// never become a token that "\v" matches.
/// </summary>
public sealed class AdminToken
{
    public const int MinimumLength = 32;
    public const string Name = "admin";

    private readonly byte[] _token;

    private AdminToken(string token, string? file)
    {
        _token = Encoding.UTF8.GetBytes(token);
        FilePath = file;
    }

    /// <summary>Where the generated token lives; null when it came from configuration.</summary>
    public string? FilePath { get; }

    /// <param name="fileName">The generated token's file in the data directory (admin.token; metrics.token for the read-only metrics token).</param>
    /// <param name="key">The configuration key that sets it instead, named in errors.</param>
    public static AdminToken Load(string configured, string dataDir, string fileName = "admin.token", string key = "AyTrack:Admin:Token")
    {
        if (!string.IsNullOrEmpty(configured))
        {
            if (configured.Trim().Length < MinimumLength)
            {
                throw new InvalidOperationException($"{key} is shorter than {MinimumLength} characters: use a random one " +
                                                    "(for example: openssl rand -hex 24)");
            }

            return new AdminToken(configured.Trim(), null);
        }

        var path = Path.Combine(dataDir, fileName);
        if (File.Exists(path))
        {
            string text;
            try
            {
                text = File.ReadAllText(path).Trim();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new InvalidOperationException($"The token file {path} cannot be read: {e.Message}", e);
            }

            if (text.Length < MinimumLength)
            {
                throw new InvalidOperationException($"The token file {path} holds {(text.Length == 0 ? "nothing" : "a token shorter than " + MinimumLength + " characters")}: " +
                                                    $"delete it to have a new token generated at the next start, or set {key}");
            }

            return new AdminToken(text, path);
        }

        var token = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        WriteAtomically(path, token);
        return new AdminToken(token, path);
    }

    /// <summary>
    /// Checks an Authorization header value, in constant time for the token: the scheme <c>Bearer</c> in any case
    /// (RFC 9110 §11.1), one or more spaces, then exactly the token; no other trimming.
    /// </summary>
    public bool Accepts(string? authorization)
    {
        const string scheme = "Bearer";
        if (authorization is null || authorization.Length <= scheme.Length || !authorization.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)
            || authorization[scheme.Length] != ' ')
        {
            return false;
        }

        var presented = Encoding.UTF8.GetBytes(authorization[scheme.Length..].TrimStart(' '));
        return CryptographicOperations.FixedTimeEquals(presented, _token);
    }

    public override string ToString() => "AdminToken(***)";

    /// <summary>Temporary file (0600), flushed to disk, renamed over the target: a crash leaves no empty token file.</summary>
    private static void WriteAtomically(string path, string token)
    {
        var temporary = path + ".tmp";
        File.Delete(temporary);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var stream = new FileStream(temporary, options))
        {
            stream.Write(Encoding.UTF8.GetBytes(token));
            stream.Flush(flushToDisk: true);
        }

        File.Move(temporary, path);
    }
}

/// <summary>
/// The read-only token of GET /metrics (AyTrack:Admin:MetricsToken, or generated once into &lt;DataDir&gt;/metrics.token
/// like the admin token), for a Prometheus server's authorization.credentials_file: it opens nothing else.
/// </summary>
public sealed class MetricsToken(AdminToken token)
{
    public AdminToken Token { get; } = token;
}
