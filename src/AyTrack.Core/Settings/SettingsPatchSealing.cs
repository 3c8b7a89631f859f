using System.Text.Json;
using System.Text.Json.Nodes;

namespace AyTrack.Core.Settings;

/// <summary>
/// Takes the secrets out of a settings merge patch where it arrives (the admin API), so that no actor, journal or
/// cluster message ever holds them in clear: <c>relay.password</c> leaves the patch and comes back sealed with the
/// cluster's secrets key (a JSON null, which clears the password, is sealed as the empty secret).
/// </summary>
public static class SettingsPatchSealing
{
    public sealed record Sealed(string Patch, string? SealedPassword);

    /// <summary>The patch without its secrets, or the errors (keyed by JSON path) that stop it here.</summary>
    public static (Sealed? Result, IReadOnlyDictionary<string, string[]> Errors) Seal(string body, SecretBox secrets)
    {
        JsonNode? patch;
        try
        {
            patch = JsonNode.Parse(body);
        }
        catch (JsonException error)
        {
            return (null, new Dictionary<string, string[]> { ["$"] = [$"not valid JSON: {error.Message}"] });
        }

        if (patch is not JsonObject root || root["relay"] is not JsonObject relay || !relay.ContainsKey("password"))
        {
            return (new Sealed(body, null), new Dictionary<string, string[]>());
        }

        var value = relay["password"];
        Secret password;
        if (value is null)
        {
            password = Secret.Empty;
        }
        else if (value is JsonValue text && text.GetValueKind() == JsonValueKind.String)
        {
            password = new Secret(text.GetValue<string>());
        }
        else
        {
            return (null, new Dictionary<string, string[]> { ["relay.password"] = ["must be a string (or null to clear it)"] });
        }

        relay.Remove("password");
        return (new Sealed(root.ToJsonString(), secrets.Seal(password)), new Dictionary<string, string[]>());
    }
}
