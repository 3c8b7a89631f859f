using System.Globalization;
using System.Text.RegularExpressions;

namespace AyTrack.Core.MtaSts;

public enum MtaStsMode
{
    Enforce,
    Testing,
    None,
}

/// <summary>
/// A domain's MTA-STS policy (RFC 8461 §3.2) as fetched at <see cref="FetchedAt"/> under the TXT record's
/// <see cref="Id"/>. It stays in force until <see cref="ExpiresAt"/> even when the TXT record disappears (§5.1).
/// </summary>
public sealed record MtaStsPolicy(string Id, MtaStsMode Mode, IReadOnlyList<string> Mx, long MaxAgeSeconds, DateTimeOffset FetchedAt)
{
    /// <summary>RFC 8461 §3.2: max_age is at most 31557600 seconds (about a year).</summary>
    public const long MaxAgeLimit = 31_557_600;

    public DateTimeOffset ExpiresAt => FetchedAt.AddSeconds(MaxAgeSeconds);

    public bool IsExpired(DateTimeOffset now) => now >= ExpiresAt;

    /// <summary>
    /// Whether an MX host is one the policy names (RFC 8461 §4.1): the same name, or a wildcard "*.example.com" that
    /// stands for exactly one leftmost label (mx1.example.com, not example.com nor a.b.example.com).
    /// </summary>
    public bool MatchesMx(string host)
    {
        var name = Normalize(host);
        foreach (var pattern in Mx.Select(Normalize))
        {
            if (pattern.StartsWith("*.", StringComparison.Ordinal))
            {
                var dot = name.IndexOf('.');
                if (dot > 0 && name[(dot + 1)..] == pattern[2..])
                {
                    return true;
                }
            }
            else if (pattern == name)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Parses a policy file: "key: value" lines (CRLF, LF accepted), version STSv1, a mode, max_age, and at least one
    /// mx unless the mode is none. Unknown keys are ignored (§3.2 allows extensions); anything malformed refuses the
    /// whole policy, which then counts as a failed fetch.
    /// </summary>
    public static bool TryParse(string text, string id, DateTimeOffset fetchedAt, out MtaStsPolicy? policy, out string error)
    {
        policy = null;
        string? version = null;
        MtaStsMode? mode = null;
        long? maxAge = null;
        var mx = new List<string>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd('\r').Trim();
            if (line.Length == 0)
            {
                continue;
            }

            var colon = line.IndexOf(':');
            if (colon <= 0)
            {
                error = $"line '{Shorten(line)}' is not key: value";
                return false;
            }

            var key = line[..colon].Trim();
            var value = line[(colon + 1)..].Trim();
            switch (key)
            {
                case "version":
                    version = value;
                    break;
                case "mode":
                    mode = value switch
                    {
                        "enforce" => MtaStsMode.Enforce,
                        "testing" => MtaStsMode.Testing,
                        "none" => MtaStsMode.None,
                        _ => null,
                    };
                    if (mode is null)
                    {
                        error = $"mode '{Shorten(value)}' is not enforce, testing or none";
                        return false;
                    }

                    break;
                case "max_age":
                    if (!Regex.IsMatch(value, "^[0-9]{1,10}$") || !long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) ||
                        seconds > MaxAgeLimit)
                    {
                        error = $"max_age '{Shorten(value)}' is not a number of seconds up to {MaxAgeLimit}";
                        return false;
                    }

                    maxAge = seconds;
                    break;
                case "mx":
                    if (!IsMxPattern(value))
                    {
                        error = $"mx '{Shorten(value)}' is not a host name or *.domain pattern";
                        return false;
                    }

                    mx.Add(Normalize(value));
                    break;
            }
        }

        if (version != "STSv1")
        {
            error = "version is not STSv1";
            return false;
        }

        if (mode is null || maxAge is null)
        {
            error = mode is null ? "mode is missing" : "max_age is missing";
            return false;
        }

        if (mode != MtaStsMode.None && mx.Count == 0)
        {
            error = "an enforce or testing policy names no mx";
            return false;
        }

        policy = new MtaStsPolicy(id, mode.Value, mx, maxAge.Value, fetchedAt);
        error = string.Empty;
        return true;
    }

    private static bool IsMxPattern(string value)
    {
        var name = value.StartsWith("*.", StringComparison.Ordinal) ? value[2..] : value;
        return name.Length is > 0 and <= 253 && name.Contains('.') &&
               name.TrimEnd('.').Split('.').All(label => label.Length is > 0 and <= 63 && label.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'));
    }

    private static string Normalize(string host) => host.Trim().TrimEnd('.').ToLowerInvariant();

    private static string Shorten(string text) => text.Length <= 80 ? text : text[..80] + "…";
}

/// <summary>The _mta-sts TXT record (RFC 8461 §3.1).</summary>
public static class MtaStsRecord
{
    private static readonly Regex IdSyntax = new("^[A-Za-z0-9]{1,32}$", RegexOptions.CultureInvariant);

    /// <summary>
    /// The policy id from the domain's TXT records, or null when it has no usable record: records that do not start
    /// with "v=STSv1" are ignored, and anything but exactly one valid record means no policy is available (§3.1).
    /// </summary>
    public static string? FindId(IEnumerable<string> records)
    {
        var candidates = records.Where(r => r.StartsWith("v=STSv1", StringComparison.Ordinal)).ToList();
        if (candidates.Count != 1)
        {
            return null;
        }

        string? id = null;
        foreach (var field in candidates[0].Split(';'))
        {
            var pair = field.Trim();
            if (pair.Length == 0)
            {
                continue;
            }

            var equals = pair.IndexOf('=');
            if (equals <= 0)
            {
                return null;
            }

            var (key, value) = (pair[..equals].Trim(), pair[(equals + 1)..].Trim());
            if (key == "id")
            {
                id = IdSyntax.IsMatch(value) ? value : null;
                if (id is null)
                {
                    return null;
                }
            }
        }

        return id;
    }
}
