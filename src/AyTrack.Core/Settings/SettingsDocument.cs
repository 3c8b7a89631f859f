using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace AyTrack.Core.Settings;

/// <summary>
/// The settings as JSON (the API's and the CLI's shape, paths as in the design brief) and back, with every
/// problem reported under the JSON path of the value at fault (<c>"timing.threads": ["must be between 1 and 500"]</c>).
/// The password is write-only: <see cref="ToJson"/> shows <c>relay.passwordSet</c>, never the value.
/// </summary>
public static partial class SettingsDocument
{
    public static readonly string[] DayNames = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

    public static JsonObject ToJson(OperatorSettings settings) => new()
    {
        ["mode"] = settings.Mode.ToString(),
        ["relay"] = new JsonObject
        {
            ["host"] = settings.Relay.Host,
            ["port"] = settings.Relay.Port,
            ["tls"] = settings.Relay.Tls.ToString(),
            ["requiresAuth"] = settings.Relay.RequiresAuth,
            ["username"] = settings.Relay.Username,
            ["passwordSet"] = settings.Relay.Password.IsSet,
            ["allowPlaintextAuth"] = settings.Relay.AllowPlaintextAuth,
            ["maxConnections"] = settings.Relay.MaxConnections,
        },
        ["trustedCertificates"] = CertificatesJson(settings.TrustedCertificates),
        ["timing"] = new JsonObject
        {
            ["threads"] = settings.Timing.Threads,
            ["maxLoadPerHour"] = settings.Timing.MaxLoadPerHour,
            ["retryDays"] = settings.Timing.RetryDays,
            ["schedule"] = new JsonObject
            {
                ["timeZone"] = settings.Timing.Schedule.TimeZone,
                ["windows"] = new JsonArray(settings.Timing.Schedule.Windows.Select(w => (JsonNode)new JsonObject
                {
                    ["days"] = new JsonArray(w.Days.Select(d => (JsonNode)JsonValue.Create(d)!).ToArray()),
                    ["start"] = w.Start,
                    ["end"] = w.End,
                }).ToArray()),
            },
        },
    };

    /// <summary>The trustedCertificates list as JSON (a PEM only where there is one).</summary>
    public static JsonArray CertificatesJson(IEnumerable<TrustedCertificate> certificates) =>
        new(certificates.Select(c => (JsonNode)new JsonObject
        {
            ["kind"] = c.Kind.ToString(),
            ["sha256"] = c.Sha256,
            ["subject"] = c.Subject,
            ["pem"] = c.Pem.Length > 0 ? c.Pem : null,
        }).ToArray());

    /// <summary>
    /// Reads a document that <see cref="ToJson"/> wrote back into settings. It carries no password (only
    /// passwordSet); the caller restores that from where it is kept sealed.
    /// </summary>
    public static OperatorSettings FromJson(string document)
    {
        var json = JsonNode.Parse(document)!.AsObject();
        (json["relay"] as JsonObject)?.Remove("passwordSet");
        var (settings, errors) = ApplyPatch(new OperatorSettings(), json);
        return settings ?? throw new InvalidOperationException("a settings document does not validate: " +
                                                               string.Join("; ", errors.Select(kv => $"{kv.Key} {string.Join(", ", kv.Value)}")));
    }

    /// <summary>
    /// Applies a merge patch (RFC 7396) to the settings. The result is either the new settings or the errors; the
    /// current settings are never changed. <c>relay.password</c> may be written (null clears it); <c>relay.passwordSet</c>
    /// is read-only.
    /// </summary>
    public static (OperatorSettings? Settings, IReadOnlyDictionary<string, string[]> Errors) ApplyPatch(OperatorSettings current, JsonNode? patch)
    {
        var errors = new Errors();
        if (patch is not JsonObject)
        {
            errors.Add("$", "the patch must be a JSON object");
            return (null, errors.ToDictionary());
        }

        var document = ToJson(current);
        var relay = (JsonObject)document["relay"]!;
        relay.Remove("passwordSet");
        if (current.Relay.Password.IsSet)
        {
            relay["password"] = current.Relay.Password.Reveal();
        }

        if (patch["relay"] is JsonObject relayPatch && relayPatch.ContainsKey("passwordSet"))
        {
            errors.Add("relay.passwordSet", "is read-only; write relay.password instead");
        }

        var merged = MergePatch.Apply(document, patch) as JsonObject ?? new JsonObject();
        var settings = Read(merged, errors);
        return errors.Count > 0 ? (null, errors.ToDictionary()) : (settings, errors.ToDictionary());
    }

    /// <summary>Validates settings that came from configuration, with the same rules and paths as the API.</summary>
    public static IReadOnlyDictionary<string, string[]> Validate(OperatorSettings settings) => ApplyPatch(settings, new JsonObject()).Errors;

    private static OperatorSettings Read(JsonObject root, Errors errors)
    {
        var settings = new OperatorSettings();
        Known(root, "", errors, "mode", "relay", "trustedCertificates", "timing");
        settings.Mode = Enum<DeliveryMode>(root, "mode", errors) ?? DeliveryMode.Direct;

        var relay = Object(root, "relay", errors);
        Known(relay, "relay.", errors, "host", "port", "tls", "requiresAuth", "username", "password", "allowPlaintextAuth", "maxConnections");
        settings.Relay = new RelaySettings
        {
            Host = String(relay, "relay.host", errors) ?? string.Empty,
            Port = Integer(relay, "relay.port", 1, 65535, errors) ?? 25,
            Tls = Enum<RelayTls>(relay, "relay.tls", errors) ?? RelayTls.None,
            RequiresAuth = Boolean(relay, "relay.requiresAuth", errors) ?? false,
            Username = String(relay, "relay.username", errors) ?? string.Empty,
            Password = new Secret(String(relay, "relay.password", errors) ?? string.Empty),
            AllowPlaintextAuth = Boolean(relay, "relay.allowPlaintextAuth", errors) ?? false,
            MaxConnections = Integer(relay, "relay.maxConnections", 1, 100, errors) ?? 5,
        };

        if (settings.Mode != DeliveryMode.Direct && settings.Relay.Host.Trim().Length == 0)
        {
            errors.Add("relay.host", $"is required when mode is {settings.Mode}");
        }

        if (settings.Relay.RequiresAuth && settings.Relay.Username.Length == 0)
        {
            errors.Add("relay.username", "is required when relay.requiresAuth is true");
        }

        settings.TrustedCertificates = Certificates(root, errors);

        var timing = Object(root, "timing", errors);
        Known(timing, "timing.", errors, "threads", "maxLoadPerHour", "retryDays", "schedule");
        var schedule = Object(timing, "timing.schedule", errors);
        Known(schedule, "timing.schedule.", errors, "timeZone", "windows");
        settings.Timing = new TimingSettings
        {
            Threads = Integer(timing, "timing.threads", 1, 500, errors) ?? 10,
            MaxLoadPerHour = Integer(timing, "timing.maxLoadPerHour", 0, int.MaxValue, errors) ?? 0,
            RetryDays = Number(timing, "timing.retryDays", errors) ?? 5,
            Schedule = new ScheduleSettings
            {
                TimeZone = String(schedule, "timing.schedule.timeZone", errors) ?? "UTC",
                Windows = Windows(schedule, errors),
            },
        };

        if (!TimeZoneInfo.TryFindSystemTimeZoneById(settings.Timing.Schedule.TimeZone, out _))
        {
            errors.Add("timing.schedule.timeZone", $"'{settings.Timing.Schedule.TimeZone}' is not a known IANA time zone");
        }

        return settings;
    }

    private static List<TrustedCertificate> Certificates(JsonObject root, Errors errors)
    {
        var list = new List<TrustedCertificate>();
        if (root["trustedCertificates"] is null)
        {
            return list;
        }

        if (root["trustedCertificates"] is not JsonArray array)
        {
            errors.Add("trustedCertificates", "must be a list");
            return list;
        }

        for (var i = 0; i < array.Count; i++)
        {
            var path = $"trustedCertificates[{i}]";
            if (array[i] is not JsonObject item)
            {
                errors.Add(path, "must be an object with kind, sha256, subject and (for a CA) pem");
                continue;
            }

            Known(item, path + ".", errors, "kind", "sha256", "subject", "pem");
            var certificate = new TrustedCertificate
            {
                Kind = Enum<CertificateKind>(item, $"{path}.kind", errors) ?? CertificateKind.Ca,
                Sha256 = (String(item, $"{path}.sha256", errors) ?? string.Empty).ToLowerInvariant(),
                Subject = String(item, $"{path}.subject", errors) ?? string.Empty,
                Pem = String(item, $"{path}.pem", errors) ?? string.Empty,
            };
            if (!Sha256Pattern().IsMatch(certificate.Sha256))
            {
                errors.Add($"{path}.sha256", "must be 64 hexadecimal characters");
            }

            if (certificate.Kind == CertificateKind.Ca && certificate.Pem.Length == 0)
            {
                errors.Add($"{path}.pem", "is required for a CA certificate");
            }

            list.Add(certificate);
        }

        return list;
    }

    private static List<ScheduleWindow> Windows(JsonObject schedule, Errors errors)
    {
        var list = new List<ScheduleWindow>();
        if (schedule["windows"] is null)
        {
            return list;
        }

        if (schedule["windows"] is not JsonArray array)
        {
            errors.Add("timing.schedule.windows", "must be a list");
            return list;
        }

        for (var i = 0; i < array.Count; i++)
        {
            var path = $"timing.schedule.windows[{i}]";
            if (array[i] is not JsonObject item)
            {
                errors.Add(path, "must be an object with days, start and end");
                continue;
            }

            Known(item, path + ".", errors, "days", "start", "end");
            var window = new ScheduleWindow
            {
                Start = String(item, $"{path}.start", errors) ?? string.Empty,
                End = String(item, $"{path}.end", errors) ?? string.Empty,
            };
            foreach (var (name, value) in new[] { ("start", window.Start), ("end", window.End) })
            {
                if (!TimeOnly.TryParseExact(value, "HH:mm", CultureInfo.InvariantCulture, DateTimeStyles.None, out _))
                {
                    errors.Add($"{path}.{name}", "must be a time of day as HH:mm");
                }
            }

            if (item["days"] is not JsonArray days || days.Count == 0)
            {
                errors.Add($"{path}.days", "must be a non-empty list of Mon, Tue, Wed, Thu, Fri, Sat, Sun");
            }
            else
            {
                foreach (var day in days)
                {
                    var text = day is JsonValue v && v.TryGetValue<string>(out var d) ? d : null;
                    var match = DayNames.FirstOrDefault(n => n.Equals(text, StringComparison.OrdinalIgnoreCase));
                    if (match is null)
                    {
                        errors.Add($"{path}.days", $"'{day?.ToJsonString()}' is not one of Mon, Tue, Wed, Thu, Fri, Sat, Sun");
                    }
                    else
                    {
                        window.Days.Add(match);
                    }
                }
            }

            list.Add(window);
        }

        return list;
    }

    private static void Known(JsonObject node, string prefix, Errors errors, params string[] names)
    {
        foreach (var (name, _) in node)
        {
            if (!names.Contains(name))
            {
                errors.Add(prefix + name, "is not a setting");
            }
        }
    }

    private static JsonObject Object(JsonObject parent, string path, Errors errors)
    {
        var name = path[(path.LastIndexOf('.') + 1)..];
        switch (parent[name])
        {
            case null:
                return new JsonObject();
            case JsonObject o:
                return o;
            default:
                errors.Add(path, "must be an object");
                return new JsonObject();
        }
    }

    private static string? String(JsonObject parent, string path, Errors errors)
    {
        var node = parent[path[(path.LastIndexOf('.') + 1)..]];
        if (node is null)
        {
            return null;
        }

        if (node is JsonValue value && value.GetValueKind() == JsonValueKind.String)
        {
            return value.GetValue<string>();
        }

        errors.Add(path, "must be a string");
        return null;
    }

    private static bool? Boolean(JsonObject parent, string path, Errors errors)
    {
        var node = parent[path[(path.LastIndexOf('.') + 1)..]];
        if (node is null)
        {
            return null;
        }

        if (node is JsonValue value && value.GetValueKind() is JsonValueKind.True or JsonValueKind.False)
        {
            return value.GetValue<bool>();
        }

        errors.Add(path, "must be true or false");
        return null;
    }

    private static int? Integer(JsonObject parent, string path, int min, int max, Errors errors)
    {
        var node = parent[path[(path.LastIndexOf('.') + 1)..]];
        if (node is null)
        {
            return null;
        }

        if (node is JsonValue value && value.GetValueKind() == JsonValueKind.Number && value.TryGetValue<int>(out var number)
            && number >= min && number <= max)
        {
            return number;
        }

        errors.Add(path, max == int.MaxValue ? $"must be a whole number, at least {min}" : $"must be between {min} and {max}");
        return null;
    }

    private static double? Number(JsonObject parent, string path, Errors errors)
    {
        var node = parent[path[(path.LastIndexOf('.') + 1)..]];
        if (node is null)
        {
            return null;
        }

        if (node is JsonValue value && value.GetValueKind() == JsonValueKind.Number && value.GetValue<double>() is > 0 and <= 3650 and var number)
        {
            return number;
        }

        errors.Add(path, "must be a number of days greater than 0 (decimals allowed)");
        return null;
    }

    private static TEnum? Enum<TEnum>(JsonObject parent, string path, Errors errors)
        where TEnum : struct, System.Enum
    {
        var text = String(parent, path, errors);
        if (text is null)
        {
            return null;
        }

        // Enums are strings, accepted in any case; numbers are not names.
        if (!int.TryParse(text, out _) && System.Enum.TryParse<TEnum>(text, ignoreCase: true, out var value))
        {
            return value;
        }

        errors.Add(path, $"must be one of {string.Join(", ", System.Enum.GetNames<TEnum>())}");
        return null;
    }

    [GeneratedRegex("^[0-9a-f]{64}$")]
    private static partial Regex Sha256Pattern();

    private sealed class Errors
    {
        private readonly SortedDictionary<string, List<string>> _errors = new(StringComparer.Ordinal);

        public int Count => _errors.Count;

        public void Add(string path, string message)
        {
            if (!_errors.TryGetValue(path, out var list))
            {
                _errors[path] = list = [];
            }

            if (!list.Contains(message))
            {
                list.Add(message);
            }
        }

        public IReadOnlyDictionary<string, string[]> ToDictionary() => _errors.ToDictionary(kv => kv.Key, kv => kv.Value.ToArray());
    }
}
