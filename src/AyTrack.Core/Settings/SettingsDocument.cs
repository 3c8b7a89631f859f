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
            ["delayWarningHours"] = settings.Timing.EffectiveDelayWarningHours,
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
        var reader = new JsonFieldReader();
        if (patch is not JsonObject)
        {
            reader.Error("$", "the patch must be a JSON object");
            return (null, reader.Errors);
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
            reader.Error("relay.passwordSet", "is read-only; write relay.password instead");
        }

        var merged = MergePatch.Apply(document, patch) as JsonObject ?? new JsonObject();
        var settings = Read(merged, reader);
        return reader.ErrorCount > 0 ? (null, reader.Errors) : (settings, reader.Errors);
    }

    /// <summary>Validates settings that came from configuration, with the same rules and paths as the API.</summary>
    public static IReadOnlyDictionary<string, string[]> Validate(OperatorSettings settings) => ApplyPatch(settings, new JsonObject()).Errors;

    private static OperatorSettings Read(JsonObject root, JsonFieldReader reader)
    {
        reader.Known(root, "", "mode", "relay", "trustedCertificates", "timing");
        // Every default is the model's own (OperatorSettings and its parts): a value left out reads as that.
        var defaults = new OperatorSettings();
        var mode = reader.Enum<DeliveryMode>(root, "mode") ?? defaults.Mode;

        var relay = reader.Object(root, "relay");
        reader.Known(relay, "relay.", "host", "port", "tls", "requiresAuth", "username", "password", "allowPlaintextAuth", "maxConnections");
        var relaySettings = new RelaySettings
        {
            Host = reader.String(relay, "relay.host") ?? defaults.Relay.Host,
            Port = reader.Integer(relay, "relay.port", 1, 65535) ?? defaults.Relay.Port,
            Tls = reader.Enum<RelayTls>(relay, "relay.tls") ?? defaults.Relay.Tls,
            RequiresAuth = reader.Boolean(relay, "relay.requiresAuth") ?? defaults.Relay.RequiresAuth,
            Username = reader.String(relay, "relay.username") ?? defaults.Relay.Username,
            Password = reader.String(relay, "relay.password") is { } password ? new Secret(password) : defaults.Relay.Password,
            AllowPlaintextAuth = reader.Boolean(relay, "relay.allowPlaintextAuth") ?? defaults.Relay.AllowPlaintextAuth,
            MaxConnections = reader.Integer(relay, "relay.maxConnections", 1, 100) ?? defaults.Relay.MaxConnections,
        };

        if (mode != DeliveryMode.Direct && relaySettings.Host.Trim().Length == 0)
        {
            reader.Error("relay.host", $"is required when mode is {mode}");
        }

        if (relaySettings.RequiresAuth && relaySettings.Username.Length == 0)
        {
            reader.Error("relay.username", "is required when relay.requiresAuth is true");
        }

        var certificates = Certificates(root, reader);

        var timing = reader.Object(root, "timing");
        reader.Known(timing, "timing.", "threads", "maxLoadPerHour", "retryDays", "delayWarningHours", "schedule");
        var schedule = reader.Object(timing, "timing.schedule");
        reader.Known(schedule, "timing.schedule.", "timeZone", "windows");
        var timingSettings = new TimingSettings
        {
            Threads = reader.Integer(timing, "timing.threads", 1, 500) ?? defaults.Timing.Threads,
            MaxLoadPerHour = reader.Integer(timing, "timing.maxLoadPerHour", 0, int.MaxValue) ?? defaults.Timing.MaxLoadPerHour,
            RetryDays = reader.Days(timing, "timing.retryDays") ?? defaults.Timing.RetryDays,
            DelayWarningHours = reader.Hours(timing, "timing.delayWarningHours") ?? defaults.Timing.DelayWarningHours,
            Schedule = new ScheduleSettings
            {
                TimeZone = reader.String(schedule, "timing.schedule.timeZone") ?? defaults.Timing.Schedule.TimeZone,
                Windows = Windows(schedule, reader),
            },
        };

        if (timingSettings.DelayWarningHours is > 0 and var hours && hours >= timingSettings.RetryDays * 24)
        {
            reader.Error("timing.delayWarningHours",
                $"must be below timing.retryDays × 24 ({timingSettings.RetryDays * 24:0.##} hours), or 0 to turn delay warnings off");
        }

        if (!TimeZoneInfo.TryFindSystemTimeZoneById(timingSettings.Schedule.TimeZone, out _))
        {
            reader.Error("timing.schedule.timeZone", $"'{timingSettings.Schedule.TimeZone}' is not a known IANA time zone");
        }

        var settings = new OperatorSettings { Mode = mode, Relay = relaySettings, TrustedCertificates = certificates, Timing = timingSettings };

        return settings;
    }

    private static List<TrustedCertificate> Certificates(JsonObject root, JsonFieldReader reader)
    {
        var list = new List<TrustedCertificate>();
        if (root["trustedCertificates"] is null)
        {
            return list;
        }

        if (root["trustedCertificates"] is not JsonArray array)
        {
            reader.Error("trustedCertificates", "must be a list");
            return list;
        }

        for (var i = 0; i < array.Count; i++)
        {
            var path = $"trustedCertificates[{i}]";
            if (array[i] is not JsonObject item)
            {
                reader.Error(path, "must be an object with kind, sha256, subject and (for a CA) pem");
                continue;
            }

            reader.Known(item, path + ".", "kind", "sha256", "subject", "pem");
            var defaults = new TrustedCertificate();
            var certificate = new TrustedCertificate
            {
                Kind = reader.Enum<CertificateKind>(item, $"{path}.kind") ?? defaults.Kind,
                Sha256 = (reader.String(item, $"{path}.sha256") ?? defaults.Sha256).ToLowerInvariant(),
                Subject = reader.String(item, $"{path}.subject") ?? defaults.Subject,
                Pem = reader.String(item, $"{path}.pem") ?? defaults.Pem,
            };
            if (!Sha256Pattern().IsMatch(certificate.Sha256))
            {
                reader.Error($"{path}.sha256", "must be 64 hexadecimal characters");
            }

            if (certificate.Kind == CertificateKind.Ca && certificate.Pem.Length == 0)
            {
                reader.Error($"{path}.pem", "is required for a CA certificate");
            }

            list.Add(certificate);
        }

        return list;
    }

    private static List<ScheduleWindow> Windows(JsonObject schedule, JsonFieldReader reader)
    {
        var list = new List<ScheduleWindow>();
        if (schedule["windows"] is null)
        {
            return list;
        }

        if (schedule["windows"] is not JsonArray array)
        {
            reader.Error("timing.schedule.windows", "must be a list");
            return list;
        }

        for (var i = 0; i < array.Count; i++)
        {
            var path = $"timing.schedule.windows[{i}]";
            if (array[i] is not JsonObject item)
            {
                reader.Error(path, "must be an object with days, start and end");
                continue;
            }

            reader.Known(item, path + ".", "days", "start", "end");
            // Start and end have no default here: a window without them fails the HH:mm check below.
            var dayList = new List<string>();
            var window = new ScheduleWindow
            {
                Start = reader.String(item, $"{path}.start") ?? string.Empty,
                End = reader.String(item, $"{path}.end") ?? string.Empty,
                Days = dayList,
            };
            foreach (var (name, value) in new[] { ("start", window.Start), ("end", window.End) })
            {
                if (!TimeOnly.TryParseExact(value, "HH:mm", CultureInfo.InvariantCulture, DateTimeStyles.None, out _))
                {
                    reader.Error($"{path}.{name}", "must be a time of day as HH:mm");
                }
            }

            if (item["days"] is not JsonArray days || days.Count == 0)
            {
                reader.Error($"{path}.days", "must be a non-empty list of Mon, Tue, Wed, Thu, Fri, Sat, Sun");
            }
            else
            {
                foreach (var day in days)
                {
                    var text = day is JsonValue v && v.TryGetValue<string>(out var d) ? d : null;
                    var match = DayNames.FirstOrDefault(n => n.Equals(text, StringComparison.OrdinalIgnoreCase));
                    if (match is null)
                    {
                        reader.Error($"{path}.days", $"'{day?.ToJsonString()}' is not one of Mon, Tue, Wed, Thu, Fri, Sat, Sun");
                    }
                    else
                    {
                        dayList.Add(match);
                    }
                }
            }

            list.Add(window);
        }

        return list;
    }

    [GeneratedRegex("^[0-9a-f]{64}$")]
    private static partial Regex Sha256Pattern();
}
