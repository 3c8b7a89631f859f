namespace AyTrack.Actors.Settings;

/// <summary>
/// Messages of the config actor. They cross nodes (the actor is a cluster singleton), so they carry the settings as
/// their JSON document and the password sealed with the cluster's shared secrets key, never in clear.
/// </summary>
public static class ConfigCommands
{
    public sealed record GetSettings;

    /// <summary>
    /// Apply a JSON merge patch. <see cref="ExpectedVersion"/> (from If-Match) must match the current version when
    /// given. The patch never holds the relay password: a new one travels in <see cref="SealedPassword"/>, sealed where
    /// the request arrived (a sealed empty secret clears it); null leaves it as it is.
    /// </summary>
    public sealed record ChangeSettings(string Patch, long? ExpectedVersion, string By, string Node)
    {
        public string? SealedPassword { get; init; }
    }

    public sealed record GetHistory;
}

public static class ConfigReplies
{
    /// <summary>
    /// The settings in force. <see cref="Invalid"/> says why the latest persisted version did not validate (the
    /// document is then the last version that did).
    /// </summary>
    public sealed record CurrentSettings(long Version, string Document, string? SealedPassword, IReadOnlyDictionary<string, string> Sources)
    {
        public string? Invalid { get; init; }
    }

    public sealed record Changed(CurrentSettings Settings);

    public sealed record Rejected(IReadOnlyDictionary<string, string[]> Errors);

    public sealed record VersionConflict(long CurrentVersion);

    public sealed record History(IReadOnlyList<HistoryEntry> Entries);

    public sealed record HistoryEntry(long Version, DateTimeOffset At, string By, string Node, IReadOnlyList<string> Changed);
}

/// <summary>Published to every node (distributed pub-sub topic <see cref="Topic"/>) after each change.</summary>
public sealed record SettingsPublished(long Version, string Document, string? SealedPassword)
{
    public const string Topic = "aytrack.settings";

    /// <summary>As <see cref="ConfigReplies.CurrentSettings.Invalid"/>.</summary>
    public string? Invalid { get; init; }
}

public static class ConfigEvents
{
    /// <summary>The first start: configuration (or the defaults) became version 1.</summary>
    public sealed record SettingsSeeded(string Document, string? SealedPassword, IReadOnlyDictionary<string, string> Sources, DateTimeOffset At);

    public sealed record SettingsChanged(long Version, string Document, string? SealedPassword, IReadOnlyList<string> Changed,
        string By, string Node, DateTimeOffset At);
}
