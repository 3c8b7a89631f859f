using System.Net;
using AyTrack.Core.Addresses;
using AyTrack.Core.Settings;

namespace AyTrack.Core.Configuration;

/// <summary>
/// The node's configuration, bound from the "AyTrack" section (appsettings.json, AyTrack__… environment variables,
/// --AyTrack:…=… arguments). docs/configuration.md documents every key; keep the two in step.
/// </summary>
public sealed class AyTrackOptions
{
    public const string SectionName = "AyTrack";

    public string DataDir { get; set; } = "./data";

    public ListenerOptions Listener { get; set; } = new();

    /// <summary>The submission listeners (RFC 6409 on 587 with STARTTLS, RFC 8314 implicit TLS on 465); both off by default.</summary>
    public SubmissionOptions Submission { get; set; } = new();

    public AdminOptions Admin { get; set; } = new();

    public DnsOptions Dns { get; set; } = new();

    public DeliveryOptions Delivery { get; set; } = new();

    public DeliveryLogOptions DeliveryLog { get; set; } = new();

    public PersistenceOptions Persistence { get; set; } = new();

    public ClusterMembershipOptions Cluster { get; set; } = new();

    public SecretsOptions Secrets { get; set; } = new();

    public StorageOptions Storage { get; set; } = new();

    public SuggestOptions Suggest { get; set; } = new();

    /// <summary>Outbound source addresses and their pools (docs/shaping.md); none: the system's choice and one EHLO name.</summary>
    public EgressOptions Egress { get; set; } = new();

    /// <summary>Operator settings; they seed the settings store on first start.</summary>
    public OperatorSettings Settings { get; set; } = new();

    public string FullDataDir => Path.GetFullPath(DataDir);
}

public sealed class ListenerOptions
{
    public string Endpoint { get; set; } = "127.0.0.1:2525";

    /// <summary>Null means the default; a configured list replaces it rather than adding to it.</summary>
    public string[]? AllowedNetworks { get; set; }

    public int MaxMessageSize { get; set; } = 26_214_400;

    public int MaxRecipients { get; set; } = 1000;

    /// <summary>How long a graceful stop waits for SMTP transactions under way to finish.</summary>
    public TimeSpan ShutdownGrace { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Name in the greeting, EHLO reply and Received header; defaults to the machine's host name.</summary>
    public string? ServerName { get; set; }

    /// <summary>Octets in one command line, CRLF included; longer lines get 500 5.5.2 and are discarded as they arrive.</summary>
    public int MaxLineLength { get; set; } = 2048;

    /// <summary>Message data all sessions together hold in memory; beyond it, data spills to &lt;DataDir&gt;/incoming/.</summary>
    public long MaxBufferedData { get; set; } = 128L * 1024 * 1024;

    /// <summary>Open SMTP sessions at most; over it, 421 4.7.0 and close.</summary>
    public int MaxConnections { get; set; } = 500;

    /// <summary>Open SMTP sessions from one client address at most; over it, 421 4.7.0 and close.</summary>
    public int MaxConnectionsPerClient { get; set; } = 50;

    /// <summary>How long the listener waits for each command (RFC 5321 §4.5.3.2.7: at least 5 minutes).</summary>
    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How long the listener waits between data chunks (RFC 5321 §4.5.3.2.8 asks for 10 minutes at the dot).</summary>
    public TimeSpan DataTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Networks whose connections start with a PROXY protocol header (v1 or v2); null or empty: none.</summary>
    public string[]? ProxyProtocolFrom { get; set; }

    /// <summary>Where RCPT TO:&lt;postmaster&gt; is delivered (RFC 5321 §4.5.1); empty: postmaster@ the server name.</summary>
    public string PostmasterAddress { get; set; } = string.Empty;

    /// <summary>The certificate of STARTTLS (RFC 3207) and of the submission listeners; no path: no TLS.</summary>
    public ListenerTlsOptions Tls { get; set; } = new();

    /// <summary>
    /// Offer AUTH before TLS. Credentials would cross the network readable by anyone on the path, so this is for
    /// loopback tests only; the node warns at start when it is on.
    /// </summary>
    public bool AllowPlaintextAuth { get; set; }

    /// <summary>How long a wrong password waits before its 535 (slows guessing on one connection).</summary>
    public TimeSpan AuthFailureDelay { get; set; } = TimeSpan.FromSeconds(1);

    public NetworkList ProxyProtocolNetworkList => ProxyProtocolFrom is { Length: > 0 }
        ? NetworkList.Parse(ProxyProtocolFrom, "AyTrack:Listener:ProxyProtocolFrom")
        : NetworkList.None;

    public string EffectivePostmasterAddress =>
        string.IsNullOrWhiteSpace(PostmasterAddress) ? $"postmaster@{EffectiveServerName}" : PostmasterAddress.Trim();

    /// <summary>Problems with the listener's keys, by key: checked at start.</summary>
    public IReadOnlyDictionary<string, string> Validate()
    {
        var errors = new Dictionary<string, string>(StringComparer.Ordinal);
        if (MaxLineLength is < 512 or > 1_048_576)
        {
            // RFC 5321 §4.5.3.1.4: a command line of 512 octets must be accepted.
            errors["AyTrack:Listener:MaxLineLength"] = "must be between 512 and 1048576 octets";
        }

        if (MaxMessageSize < 1)
        {
            errors["AyTrack:Listener:MaxMessageSize"] = "must be positive";
        }

        if (MaxBufferedData < 1)
        {
            errors["AyTrack:Listener:MaxBufferedData"] = "must be positive";
        }

        if (MaxConnections < 1)
        {
            errors["AyTrack:Listener:MaxConnections"] = "must be at least 1";
        }

        if (MaxConnectionsPerClient < 1)
        {
            errors["AyTrack:Listener:MaxConnectionsPerClient"] = "must be at least 1";
        }

        if (MaxRecipients < 1)
        {
            errors["AyTrack:Listener:MaxRecipients"] = "must be at least 1";
        }

        if (CommandTimeout <= TimeSpan.Zero)
        {
            errors["AyTrack:Listener:CommandTimeout"] = "must be positive";
        }

        if (DataTimeout <= TimeSpan.Zero)
        {
            errors["AyTrack:Listener:DataTimeout"] = "must be positive";
        }

        if (AuthFailureDelay < TimeSpan.Zero || AuthFailureDelay > TimeSpan.FromMinutes(1))
        {
            errors["AyTrack:Listener:AuthFailureDelay"] = "must be between 00:00:00 and 00:01:00";
        }

        if (!string.IsNullOrWhiteSpace(Tls.KeyPath) && string.IsNullOrWhiteSpace(Tls.CertificatePath))
        {
            errors["AyTrack:Listener:Tls:CertificatePath"] = "is required when AyTrack:Listener:Tls:KeyPath is set";
        }

        if (!string.IsNullOrWhiteSpace(PostmasterAddress) && !EmailAddress.TryParse(PostmasterAddress, out _, out var problem))
        {
            errors["AyTrack:Listener:PostmasterAddress"] = problem;
        }

        foreach (var (key, parse) in new (string, Func<NetworkList>)[]
                 {
                     ("AyTrack:Listener:AllowedNetworks", () => AllowedNetworkList),
                     ("AyTrack:Listener:ProxyProtocolFrom", () => ProxyProtocolNetworkList),
                 })
        {
            try
            {
                parse();
            }
            catch (FormatException error)
            {
                errors[key] = error.Message[(key.Length + 2)..];
            }
        }

        return errors;
    }

    public static readonly string[] DefaultAllowedNetworks = ["127.0.0.0/8", "::1/128"];

    public NetworkList AllowedNetworkList =>
        NetworkList.Parse(AllowedNetworks ?? DefaultAllowedNetworks, "AyTrack:Listener:AllowedNetworks");

    public IPEndPoint ParsedEndpoint => IPEndPoint.TryParse(Endpoint, out var ep)
        ? ep
        : throw new FormatException($"AyTrack:Listener:Endpoint: '{Endpoint}' is not an address:port such as 127.0.0.1:2525");

    /// <summary>The configured name, or the host name, looked up once (it names every Received header).</summary>
    public string EffectiveServerName => _serverName ??= string.IsNullOrWhiteSpace(ServerName) ? Dns.GetHostName() : ServerName;

    private string? _serverName;
}

/// <summary>The listener's certificate: a PEM chain with its key (in the same file or KeyPath), or a PKCS#12 file.</summary>
public sealed class ListenerTlsOptions
{
    /// <summary>PEM (leaf first, then its chain; the key too unless KeyPath is set) or PKCS#12 (.pfx, .p12). Reloaded when it changes.</summary>
    public string? CertificatePath { get; set; }

    public string? KeyPath { get; set; }

    /// <summary>The PKCS#12 file's password, or the PEM key's when it is encrypted.</summary>
    public string? CertificatePassword { get; set; }

    public bool Enabled => !string.IsNullOrWhiteSpace(CertificatePath);
}

public sealed class SubmissionOptions
{
    /// <summary>
    /// address:port of the submission listener (for example 0.0.0.0:587): STARTTLS before AUTH, AUTH before MAIL.
    /// Empty: off.
    /// </summary>
    public string? Endpoint { get; set; }

    /// <summary>address:port of the implicit-TLS submission listener (RFC 8314, for example 0.0.0.0:465). Empty: off.</summary>
    public string? TlsEndpoint { get; set; }

    public IPEndPoint? ParsedEndpoint => Parse(Endpoint, "AyTrack:Submission:Endpoint");

    public IPEndPoint? ParsedTlsEndpoint => Parse(TlsEndpoint, "AyTrack:Submission:TlsEndpoint");

    public IReadOnlyDictionary<string, string> Validate(ListenerOptions listener)
    {
        var errors = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in new[] { ("AyTrack:Submission:Endpoint", Endpoint), ("AyTrack:Submission:TlsEndpoint", TlsEndpoint) })
        {
            if (string.IsNullOrWhiteSpace(value))
            {
                continue;
            }

            if (!IPEndPoint.TryParse(value, out _))
            {
                errors[key] = $"'{value}' is not an address:port such as 0.0.0.0:587";
            }
            else if (!listener.Tls.Enabled)
            {
                // Submission means credentials; without a certificate they could only be sent in clear.
                errors[key] = "needs AyTrack:Listener:Tls:CertificatePath (submission requires TLS)";
            }
        }

        return errors;
    }

    private static IPEndPoint? Parse(string? value, string key) => string.IsNullOrWhiteSpace(value)
        ? null
        : IPEndPoint.TryParse(value, out var endpoint) ? endpoint : throw new FormatException($"{key}: '{value}' is not an address:port such as 0.0.0.0:587");
}

public sealed class AdminOptions
{
    public string Url { get; set; } = "http://127.0.0.1:8025";

    /// <summary>Empty: a random token is generated once into &lt;DataDir&gt;/admin.token.</summary>
    public string Token { get; set; } = string.Empty;

    /// <summary>Empty: a random read-only token for GET /metrics is generated once into &lt;DataDir&gt;/metrics.token.</summary>
    public string MetricsToken { get; set; } = string.Empty;

    /// <summary>
    /// Open connections to the admin port at once; more are closed as they arrive, so a client that opens thousands
    /// cannot take the node's descriptors (the SMTP listener has its own limits).
    /// </summary>
    public int MaxConnections { get; set; } = 100;
}

public sealed class DnsOptions
{
    /// <summary>"ip" or "ip:port"; empty uses the system resolvers.</summary>
    public string[]? Servers { get; set; }

    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(5);
}

public sealed class DeliveryOptions
{
    public int MxPort { get; set; } = 25;

    /// <summary>Null means any destination; a list restricts every outbound connection to those ranges.</summary>
    public string[]? AllowedDestinations { get; set; }

    public int MaxConnectionsPerDestination { get; set; } = 10;

    public TimeSpan MinBackoff { get; set; } = TimeSpan.FromMinutes(5);

    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Messages handed to one SMTP session at most.</summary>
    public int BatchSize { get; set; } = 50;

    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Per SMTP command; RFC 5321 §4.5.3.2 suggests minutes, which a stuck peer should not get for ever.</summary>
    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>How long a domain actor waits for a worker's reply before it takes the batch back.</summary>
    public TimeSpan BatchReplyTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// A YAML file of bounce classification rules tried before the shipped ones (or instead of them, with
    /// includeDefaults: false); reloaded when it changes. Empty: the shipped rules.
    /// </summary>
    public string BounceRulesPath { get; set; } = string.Empty;

    /// <summary>
    /// A YAML file of traffic-shaping rules read after the shipped ones (docs/shaping.md); reloaded when it changes and
    /// on `aytrack shaping reload`. Empty: the shipped rules.
    /// </summary>
    public string ShapingPath { get; set; } = string.Empty;

    /// <summary>MTA-STS (RFC 8461) for direct delivery.</summary>
    public MtaStsOptions MtaSts { get; set; } = new();

    /// <summary>
    /// A PEM file of CA certificates trusted for outbound TLS besides the system's (a private PKI): MX hosts under an
    /// enforced MTA-STS policy and the policy servers. Empty: the system's trust only.
    /// </summary>
    public string TrustedCaPath { get; set; } = string.Empty;

    public NetworkList AllowedDestinationList => AllowedDestinations is null
        ? NetworkList.Any
        : NetworkList.Parse(AllowedDestinations, "AyTrack:Delivery:AllowedDestinations");
}

public sealed class MtaStsOptions
{
    public bool Enabled { get; set; } = true;

    /// <summary>The port of https://mta-sts.&lt;domain&gt;/ (443; tests use their own).</summary>
    public int PolicyPort { get; set; } = 443;

    /// <summary>RFC 8461 §3.3 suggests senders bound the fetch; a slow policy server must not hold deliveries long.</summary>
    public TimeSpan FetchTimeout { get; set; } = TimeSpan.FromSeconds(10);
}

public sealed class DeliveryLogOptions
{
    public long MaxFileSize { get; set; } = 10 * 1024 * 1024;

    public int MaxFiles { get; set; } = 10;
}

public sealed class PersistenceOptions
{
    /// <summary>"sqlite" (embedded, one node) or "postgresql" (a cluster).</summary>
    public string Provider { get; set; } = "sqlite";

    /// <summary>Empty with sqlite: files in the data directory.</summary>
    public string ConnectionString { get; set; } = string.Empty;
}

public sealed class SuggestOptions
{
    /// <summary>Home directory whose mail-client settings are read; empty: the node's user's home.</summary>
    public string Home { get; set; } = string.Empty;

    /// <summary>Autoconfig URL templates ({domain} is replaced); null: the two Mozilla locations.</summary>
    public string[]? AutoconfigUrls { get; set; }

    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(5);

    public static readonly string[] DefaultAutoconfigUrls =
    [
        "https://autoconfig.{domain}/mail/config-v1.1.xml",
        "https://{domain}/.well-known/autoconfig/mail/config-v1.1.xml",
    ];
}

/// <summary>AyTrack:Storage: how often the node checks that it can still write the spool and read the journal.</summary>
public sealed class StorageOptions
{
    public TimeSpan ProbeInterval { get; set; } = TimeSpan.FromSeconds(15);
}

public sealed class SecretsOptions
{
    /// <summary>Key that encrypts secrets at rest; empty: &lt;DataDir&gt;/secrets.key. Cluster nodes share one.</summary>
    public string KeyFile { get; set; } = string.Empty;
}

public sealed class ClusterMembershipOptions
{
    /// <summary>The actor system's name; seed node addresses must use it (akka.ssl.tcp://aytrack@host:port).</summary>
    public const string SystemName = "aytrack";

    /// <summary>The role every AyTrack node has: the config singleton and settings pub-sub live on it.</summary>
    public const string DeliveryRole = "delivery";

    /// <summary>The host name or address other nodes reach this one at (and the remoting listener binds to).</summary>
    public string Hostname { get; set; } = "127.0.0.1";

    /// <summary>The remoting port; required with seed nodes, 0 = any free port otherwise.</summary>
    public int Port { get; set; }

    /// <summary>
    /// Addresses like akka.ssl.tcp://aytrack@10.0.0.5:4053 (akka.tcp:// only with <see cref="ClusterTlsOptions.Enabled"/>
    /// false); empty = a one-node cluster that joins itself.
    /// </summary>
    public string[] SeedNodes { get; set; } = [];

    /// <summary>Extra cluster roles; every node also has <see cref="DeliveryRole"/>.</summary>
    public string[] Roles { get; set; } = [];

    /// <summary>
    /// How long the cluster's membership must be stable before the split brain resolver (keep-majority) downs
    /// unreachable members; a crashed node's domains move to the survivors after this.
    /// </summary>
    public TimeSpan StableAfter { get; set; } = TimeSpan.FromSeconds(20);

    public int NumberOfShards { get; set; } = 100;

    /// <summary>Mutual TLS between nodes (AyTrack:Cluster:Tls): on by default, one node included.</summary>
    public ClusterTlsOptions Tls { get; set; } = new();

    /// <summary>The scheme of this node's address and of its seeds: Akka.Remote's TLS transport, or plain TCP.</summary>
    public string Scheme => Tls.Enabled ? "akka.ssl.tcp" : "akka.tcp";

    public bool IsMultiNode => SeedNodes.Any(s => !string.IsNullOrWhiteSpace(s));

    public IReadOnlyList<string> AllRoles => [DeliveryRole, .. Roles.Where(r => !string.IsNullOrWhiteSpace(r) && r != DeliveryRole)];

    /// <summary>
    /// Problems with the cluster and persistence configuration, keyed by the configuration key: checked at start so
    /// a node that could never share work (or would split its queue across private SQLite files) does not start.
    /// </summary>
    public static IReadOnlyDictionary<string, string> Validate(ClusterMembershipOptions cluster, PersistenceOptions persistence)
    {
        var errors = new Dictionary<string, string>(StringComparer.Ordinal);
        if (cluster.Port is < 0 or > 65535)
        {
            errors["AyTrack:Cluster:Port"] = "must be between 0 and 65535";
        }

        if (string.IsNullOrWhiteSpace(cluster.Hostname))
        {
            errors["AyTrack:Cluster:Hostname"] = "must not be empty";
        }

        if (cluster.StableAfter <= TimeSpan.Zero)
        {
            errors["AyTrack:Cluster:StableAfter"] = "must be positive";
        }

        if (cluster.NumberOfShards < 1)
        {
            errors["AyTrack:Cluster:NumberOfShards"] = "must be at least 1";
        }

        var provider = persistence.Provider.Trim().ToLowerInvariant();
        if (provider is not ("sqlite" or "postgresql"))
        {
            errors["AyTrack:Persistence:Provider"] = $"'{persistence.Provider}' is not one of sqlite, postgresql";
        }
        else if (provider == "postgresql" && string.IsNullOrWhiteSpace(persistence.ConnectionString))
        {
            errors["AyTrack:Persistence:ConnectionString"] = "is required with the postgresql provider (Host=…;Database=…;Username=…;Password=…)";
        }

        for (var i = 0; i < cluster.SeedNodes.Length; i++)
        {
            if (string.IsNullOrWhiteSpace(cluster.SeedNodes[i]))
            {
                continue;
            }

            if (!TryParseSeed(cluster.SeedNodes[i], cluster.Scheme, out var problem))
            {
                errors[$"AyTrack:Cluster:SeedNodes:{i}"] = problem;
            }
        }

        for (var i = 0; i < cluster.Tls.TrustedThumbprints.Length; i++)
        {
            if (!ClusterTlsOptions.IsThumbprint(cluster.Tls.TrustedThumbprints[i]))
            {
                errors[$"AyTrack:Cluster:Tls:TrustedThumbprints:{i}"] = "must be a SHA-256 thumbprint: 64 hexadecimal characters";
            }
        }

        if (!cluster.Tls.Enabled && (cluster.Tls.CertificatePath.Length > 0 || cluster.Tls.CaPath.Length > 0))
        {
            errors["AyTrack:Cluster:Tls:Enabled"] = "is false, yet a certificate or CA is configured: remove them, or turn TLS on";
        }

        if (cluster.IsMultiNode)
        {
            if (cluster.Port == 0)
            {
                errors["AyTrack:Cluster:Port"] = "is required with seed nodes: the other nodes must know where to reach this one";
            }

            if (provider == "sqlite")
            {
                errors["AyTrack:Persistence:Provider"] =
                    "sqlite keeps journal, snapshots and spool in this node's own files, so a cluster would lose sight of mail " +
                    "accepted by other nodes; cluster nodes must share PostgreSQL (AyTrack:Persistence:Provider=postgresql)";
            }
        }

        return errors;
    }

    private static bool TryParseSeed(string seed, string scheme, out string problem)
    {
        problem = string.Empty;
        if (!Uri.TryCreate(seed.Trim(), UriKind.Absolute, out var uri) || uri.Scheme is not ("akka.tcp" or "akka.ssl.tcp") ||
            string.IsNullOrEmpty(uri.Host) || uri.Port <= 0)
        {
            problem = $"'{seed}' is not an address like {scheme}://{SystemName}@10.0.0.5:4053";
            return false;
        }

        if (uri.Scheme != scheme)
        {
            // A plain seed in a TLS cluster (or the reverse) could never be joined: say which key decides.
            problem = $"'{seed}' uses {uri.Scheme}://, but AyTrack:Cluster:Tls:Enabled is {(scheme == "akka.ssl.tcp" ? "true" : "false")}, " +
                      $"so every node's address is {scheme}://";
            return false;
        }

        if (uri.UserInfo != SystemName)
        {
            problem = $"'{seed}' names the actor system '{uri.UserInfo}'; AyTrack's is '{SystemName}'";
            return false;
        }

        return true;
    }
}

/// <summary>
/// Mutual TLS on Akka.Remote (AyTrack:Cluster:Tls). A peer is trusted by our own rule, never by the system's CA
/// store: with <see cref="CaPath"/> its chain must end at that CA; otherwise its certificate's SHA-256 thumbprint must
/// be one of <see cref="TrustedThumbprints"/> (default: this node's own certificate).
/// </summary>
public sealed class ClusterTlsOptions
{
    /// <summary>False is the only way to run the cluster port in plain text; the node then warns at every start.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>This node's certificate and key (PKCS#12); empty: &lt;DataDir&gt;/cluster.pfx, made on the first start.</summary>
    public string CertificatePath { get; set; } = string.Empty;

    /// <summary>The password of <see cref="CertificatePath"/>, if it has one.</summary>
    public string CertificatePassword { get; set; } = string.Empty;

    /// <summary>A CA certificate (PEM or DER): peers must present a certificate it issued.</summary>
    public string CaPath { get; set; } = string.Empty;

    /// <summary>Without a CA: the SHA-256 thumbprints of the certificates peers may present (old and new while rotating).</summary>
    public string[] TrustedThumbprints { get; set; } = [];

    public static bool IsThumbprint(string? text) =>
        text is { Length: 64 } && text.All(char.IsAsciiHexDigit);
}


/// <summary>AyTrack:Egress: the addresses outbound sessions may come from, and pools of them the shaping rules choose.</summary>
public sealed class EgressOptions
{
    public List<EgressSourceOptions> Sources { get; set; } = [];

    public List<EgressPoolOptions> Pools { get; set; } = [];

    /// <summary>Every problem, by configuration key.</summary>
    public IEnumerable<KeyValuePair<string, string>> Validate()
    {
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < Sources.Count; i++)
        {
            var source = Sources[i];
            var key = $"AyTrack:Egress:Sources:{i}";
            if (string.IsNullOrWhiteSpace(source.Name))
            {
                yield return new($"{key}:Name", "is required");
            }
            else if (!names.Add(source.Name.Trim()))
            {
                yield return new($"{key}:Name", $"'{source.Name}' is used by another source");
            }

            if (!string.IsNullOrWhiteSpace(source.BindAddress) && !System.Net.IPAddress.TryParse(source.BindAddress.Trim(), out _))
            {
                yield return new($"{key}:BindAddress", $"'{source.BindAddress}' is not an IP address");
            }

            if (!string.IsNullOrWhiteSpace(source.EhloName) && !DomainName.TryNormalize(source.EhloName.Trim(), out _, out _))
            {
                yield return new($"{key}:EhloName", $"'{source.EhloName}' is not a host name");
            }
        }

        var pools = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < Pools.Count; i++)
        {
            var pool = Pools[i];
            var key = $"AyTrack:Egress:Pools:{i}";
            if (string.IsNullOrWhiteSpace(pool.Name))
            {
                yield return new($"{key}:Name", "is required");
            }
            else if (!pools.Add(pool.Name.Trim()))
            {
                yield return new($"{key}:Name", $"'{pool.Name}' is used by another pool");
            }

            if (pool.Sources.Count == 0)
            {
                yield return new($"{key}:Sources", "must name at least one source");
            }

            for (var j = 0; j < pool.Sources.Count; j++)
            {
                if (!names.Contains(pool.Sources[j].Name.Trim()))
                {
                    yield return new($"{key}:Sources:{j}", $"'{pool.Sources[j].Name}' is not a source in AyTrack:Egress:Sources");
                }

                if (pool.Sources[j].Weight is < 1 or > 1000)
                {
                    yield return new($"{key}:Sources:{j}:Weight", "must be between 1 and 1000");
                }
            }
        }
    }
}

public sealed class EgressSourceOptions
{
    public string Name { get; set; } = string.Empty;

    /// <summary>The local address sessions bind to; empty: the system chooses.</summary>
    public string BindAddress { get; set; } = string.Empty;

    /// <summary>The name this source greets with (EHLO); empty: the node's server name.</summary>
    public string EhloName { get; set; } = string.Empty;
}

public sealed class EgressPoolOptions
{
    public string Name { get; set; } = string.Empty;

    /// <summary>Its sources: each a name (<c>Sources:0 = "a"</c>) or a name with a weight (<c>Sources:0:Name</c>, <c>Sources:0:Weight</c>).</summary>
    public List<EgressPoolSource> Sources { get; set; } = [];
}

/// <summary>A source in a pool; its share of the pool's sessions is its weight over the pool's total.</summary>
[System.ComponentModel.TypeConverter(typeof(EgressPoolSourceConverter))]
public sealed class EgressPoolSource
{
    public string Name { get; set; } = string.Empty;

    public int Weight { get; set; } = 1;
}

/// <summary>Lets a pool's source be written as just its name in the configuration.</summary>
public sealed class EgressPoolSourceConverter : System.ComponentModel.TypeConverter
{
    public override bool CanConvertFrom(System.ComponentModel.ITypeDescriptorContext? context, Type sourceType) =>
        sourceType == typeof(string) || base.CanConvertFrom(context, sourceType);

    public override object? ConvertFrom(System.ComponentModel.ITypeDescriptorContext? context, System.Globalization.CultureInfo? culture, object value) =>
        value is string name ? new EgressPoolSource { Name = name.Trim() } : base.ConvertFrom(context, culture, value);
}
