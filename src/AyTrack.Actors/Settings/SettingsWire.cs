using AyTrack.Core.Settings;

namespace AyTrack.Actors.Settings;

/// <summary>Settings as they travel and rest: the JSON document plus the sealed password.</summary>
public static class SettingsWire
{
    public static OperatorSettings Restore(string document, string? sealedPassword, SecretBox secrets)
    {
        var settings = SettingsDocument.FromJson(document);
        return sealedPassword is null ? settings : settings with { Relay = settings.Relay with { Password = secrets.Open(sealedPassword) } };
    }
}
