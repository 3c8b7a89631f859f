namespace AyTrack.Core.Settings;

/// <summary>
/// The operator's "Mail Sending Settings": one model whose JSON paths, configuration keys (under AyTrack:Settings)
/// and CLI keys are the table in the design brief. The defaults written here are the only ones: configuration
/// binding and <see cref="SettingsDocument"/> both start from them.
/// </summary>
public sealed class OperatorSettings
{
    public DeliveryMode Mode { get; set; } = DeliveryMode.Direct;

    public RelaySettings Relay { get; set; } = new();

    public List<TrustedCertificate> TrustedCertificates { get; set; } = [];

    public TimingSettings Timing { get; set; } = new();
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

public sealed class RelaySettings
{
    public string Host { get; set; } = string.Empty;

    public int Port { get; set; } = 25;

    public RelayTls Tls { get; set; } = RelayTls.None;

    public bool RequiresAuth { get; set; }

    public string Username { get; set; } = string.Empty;

    /// <summary>Write-only: read back only as passwordSet; encrypted at rest.</summary>
    public Secret Password { get; set; } = Secret.Empty;

    public bool AllowPlaintextAuth { get; set; }

    public int MaxConnections { get; set; } = 5;
}

public enum CertificateKind
{
    Ca,
    Pinned,
}

public sealed class TrustedCertificate
{
    public CertificateKind Kind { get; set; }

    public string Sha256 { get; set; } = string.Empty;

    public string Subject { get; set; } = string.Empty;

    public string Pem { get; set; } = string.Empty;
}

public sealed class TimingSettings
{
    /// <summary>Concurrent SMTP sessions per node: the size of the SMTP worker pool.</summary>
    public int Threads { get; set; } = 10;

    /// <summary>Messages per hour for the whole cluster; 0 means no cap.</summary>
    public int MaxLoadPerHour { get; set; }

    /// <summary>Days after arrival at which undelivered mail is given up (decimals allowed).</summary>
    public double RetryDays { get; set; } = 5;

    public ScheduleSettings Schedule { get; set; } = new();
}

public sealed class ScheduleSettings
{
    public string TimeZone { get; set; } = "UTC";

    public List<ScheduleWindow> Windows { get; set; } = [];
}

public sealed class ScheduleWindow
{
    public List<string> Days { get; set; } = [];

    public string Start { get; set; } = "00:00";

    public string End { get; set; } = "00:00";
}
