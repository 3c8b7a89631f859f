using System.Text.Json;
using AyTrack.Core.MtaSts;
using Microsoft.Extensions.Logging;

namespace AyTrack.Smtp.MtaSts;

/// <summary>
/// This node's cached MTA-STS policies, kept in <c>&lt;DataDir&gt;/mta-sts-policies.json</c> so that a restart does
/// not forget an enforced policy (RFC 8461 §5.1: a policy is applied until its max_age, whatever DNS says meanwhile).
/// Written whole after each change (policies change at most once per fetch); bounded in entries.
/// </summary>
public sealed class MtaStsPolicyCache
{
    public const int MaxEntries = 100_000;
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() },
    };

    private readonly object _gate = new();
    private readonly string _path;
    private readonly Dictionary<string, MtaStsPolicy> _policies;

    public MtaStsPolicyCache(string dataDir, ILogger logger)
    {
        _path = Path.Combine(dataDir, "mta-sts-policies.json");
        _policies = Load(_path, logger);
    }

    public MtaStsPolicy? Get(string domain)
    {
        lock (_gate)
        {
            return _policies.GetValueOrDefault(domain);
        }
    }

    /// <summary>Stores <paramref name="policy"/> for the domain, or forgets the domain's policy when it is null.</summary>
    public void Set(string domain, MtaStsPolicy? policy, DateTimeOffset now)
    {
        lock (_gate)
        {
            if (policy is null)
            {
                if (!_policies.Remove(domain))
                {
                    return;
                }
            }
            else
            {
                _policies[domain] = policy;
                if (_policies.Count > MaxEntries)
                {
                    // Expired ones first, then those closest to expiry: they are the cheapest to fetch again.
                    foreach (var victim in _policies.OrderBy(p => p.Value.ExpiresAt).Take(_policies.Count - MaxEntries).Select(p => p.Key).ToList())
                    {
                        _policies.Remove(victim);
                    }
                }
            }

            foreach (var expired in _policies.Where(p => p.Value.IsExpired(now)).Select(p => p.Key).ToList())
            {
                _policies.Remove(expired);
            }

            var temporary = _path + ".tmp";
            File.WriteAllBytes(temporary, JsonSerializer.SerializeToUtf8Bytes(_policies, Json));
            File.Move(temporary, _path, overwrite: true);
        }
    }

    private static Dictionary<string, MtaStsPolicy> Load(string path, ILogger logger)
    {
        if (!File.Exists(path))
        {
            return new Dictionary<string, MtaStsPolicy>(StringComparer.Ordinal);
        }

        try
        {
            using var stream = File.OpenRead(path);
            return new Dictionary<string, MtaStsPolicy>(
                JsonSerializer.Deserialize<Dictionary<string, MtaStsPolicy>>(stream, Json) ?? [], StringComparer.Ordinal);
        }
        catch (Exception error) when (error is JsonException or IOException or NotSupportedException)
        {
            // Policies are fetched again as mail goes out; a damaged cache must not stop delivery.
            logger.LogWarning("The MTA-STS policy cache {Path} cannot be read ({Error}); starting with an empty cache", path, error.Message);
            return new Dictionary<string, MtaStsPolicy>(StringComparer.Ordinal);
        }
    }
}
