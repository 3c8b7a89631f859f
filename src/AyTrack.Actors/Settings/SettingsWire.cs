using System.Text.Json.Nodes;
using AyTrack.Core.Settings;

namespace AyTrack.Actors.Settings;

/// <summary>Settings as they travel and rest: the JSON document plus the sealed password.</summary>
public static class SettingsWire
{
    public static OperatorSettings Restore(string document, string? sealedPassword, SecretBox secrets)
    {
        var json = JsonNode.Parse(document)!.AsObject();
        ((JsonObject)json["relay"]!).Remove("passwordSet");
        var (settings, errors) = SettingsDocument.ApplyPatch(new OperatorSettings(), json);
        if (settings is null)
        {
            throw new InvalidOperationException("a settings document no longer validates: " +
                                                string.Join("; ", errors.Select(kv => $"{kv.Key} {string.Join(", ", kv.Value)}")));
        }

        if (sealedPassword is not null)
        {
            settings.Relay.Password = secrets.Open(sealedPassword);
        }

        return settings;
    }
}
