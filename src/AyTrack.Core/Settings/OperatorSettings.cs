namespace AyTrack.Core.Settings;

/// <summary>
/// The operator's "Mail Sending Settings": one model whose JSON paths, configuration keys (under AyTrack:Settings)
/// and CLI keys are the table in the design brief. The defaults written here are the only ones: configuration
/// binding and <see cref="SettingsDocument"/> both start from them. Immutable: one instance is shared by every domain
/// actor and worker, so a change is a new instance (`with`), never an edit of the one they read.
/// </summary>
public sealed record OperatorSettings
{
    public DeliveryMode Mode { get; init; } = DeliveryMode.Direct;

    public RelaySettings Relay { get; init; } = new();

    public IReadOnlyList<TrustedCertificate> TrustedCertificates { get; init; } = [];

    public TimingSettings Timing { get; init; } = new();
}

public enum DeliveryMode
{
    Direct,
    DirectThenRelay,
    RelayAll,
}

public enum RelayTls
{
    None,
    SslOnConnect,
    StartTls,
}

public sealed record RelaySettings
{
    public string Host { get; init; } = string.Empty;

    public int Port { get; init; } = 25;

    public RelayTls Tls { get; init; } = RelayTls.None;

    public bool RequiresAuth { get; init; }

    public string Username { get; init; } = string.Empty;

    /// <summary>Write-only: read back only as passwordSet; encrypted at rest.</summary>
    public Secret Password { get; init; } = Secret.Empty;

    public bool AllowPlaintextAuth { get; init; }

    public int MaxConnections { get; init; } = 5;
}

public enum CertificateKind
{
    Ca,
    Pinned,
}

public sealed record TrustedCertificate
{
    public CertificateKind Kind { get; init; }

    public string Sha256 { get; init; } = string.Empty;

    public string Subject { get; init; } = string.Empty;

    public string Pem { get; init; } = string.Empty;
}

public sealed record TimingSettings
{
    /// <summary>Concurrent SMTP sessions per node: the size of the SMTP worker pool.</summary>
    public int Threads { get; init; } = 10;

    /// <summary>Messages per hour for the whole cluster; 0 means no cap.</summary>
    public int MaxLoadPerHour { get; init; }

    /// <summary>Days after arrival at which undelivered mail is given up (decimals allowed).</summary>
    public double RetryDays { get; init; } = 5;

    public const double DefaultDelayWarningHours = 4;

    /// <summary>
    /// Hours after arrival at which a sender is told once that a recipient is still deferred (an RFC 3464 "delayed"
    /// DSN); 0 turns the warnings off; below <see cref="RetryDays"/> × 24. Null: not set, see <see cref="EffectiveDelayWarningHours"/>.
    /// </summary>
    public double? DelayWarningHours { get; init; }

    /// <summary>
    /// The hours in force: the set value, else the default of 4 when that comes before the retry period ends, else off.
    /// A configuration (or settings written by an older version) with a short retryDays and no delayWarningHours is
    /// therefore valid as it is.
    /// </summary>
    public double EffectiveDelayWarningHours =>
        DelayWarningHours ?? (DefaultDelayWarningHours < RetryDays * 24 ? DefaultDelayWarningHours : 0);

    public ScheduleSettings Schedule { get; init; } = new();
}

public sealed record ScheduleSettings
{
    public string TimeZone { get; init; } = "UTC";

    public IReadOnlyList<ScheduleWindow> Windows { get; init; } = [];
}

public sealed record ScheduleWindow
{
    public IReadOnlyList<string> Days { get; init; } = [];

    public string Start { get; init; } = "00:00";

    public string End { get; init; } = "00:00";
}
