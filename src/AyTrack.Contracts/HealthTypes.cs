namespace AyTrack.Contracts;

/// <summary>
/// The reason codes of the health report (docs/security.md lists what each means and what to do). A code names a
/// condition, never a host, user or error text, so /healthz can say it without a token.
/// </summary>
public static class HealthCodes
{
    public const string ClusterJoining = "cluster-joining";
    public const string ListenerStarting = "listener-starting";
    public const string RelayLoginRefused = "relay-login-refused";
    public const string RelayUnreachable = "relay-unreachable";
    public const string SpoolUnwritable = "spool-unwritable";
    public const string JournalUnreachable = "journal-unreachable";
    public const string SettingsInvalid = "settings-invalid";
    public const string ClusterTlsOff = "cluster-tls-off";
    public const string StorageDamaged = "storage-damaged";
}

/// <summary>GET /healthz: <c>starting</c>, <c>ok</c>, <c>degraded</c> (ready, but an operator is needed) or <c>down</c>.</summary>
public sealed record HealthSummary(string Status, IReadOnlyList<string> Reasons);

/// <summary>GET /api/health (token): the summary plus what each component found, since when.</summary>
public sealed record HealthReport(string Status, IReadOnlyList<string> Reasons, IReadOnlyList<HealthComponent> Components);

public sealed record HealthComponent(string Name, string Status, IReadOnlyList<string> Reasons, string? Detail, DateTimeOffset? Since);
