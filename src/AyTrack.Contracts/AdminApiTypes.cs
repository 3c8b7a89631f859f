using System.Text.Json.Nodes;

namespace AyTrack.Contracts;

// The admin API's request and reply types, shared by the node (which serves them) and the aytrack CLI (which reads
// them), so the two cannot drift apart.

/// <summary>Reply of POST /api/messages.</summary>
public sealed record InjectedMessage(string Id, string MessageId);

/// <summary>Reply of GET /api/threads: one line per node.</summary>
public sealed record NodeThreads(string Node, int Routees, int Setting, int? Override);

/// <summary>Body of POST /api/threads.</summary>
public sealed record ThreadsRequest(int? Size, string? Node);

/// <summary>Reply of GET /api/settings?include=sources.</summary>
public sealed record SettingsWithSources(long Version, JsonNode Settings, IReadOnlyDictionary<string, string> Sources);

/// <summary>One member in GET /api/cluster.</summary>
public sealed record ClusterMember(string Address, string Status, IReadOnlyList<string> Roles, bool Reachable, int Shards, bool Self);

public sealed record ClusterView(string Self, string? Leader, IReadOnlyList<ClusterMember> Members);

/// <summary>POST /api/cluster/leave: the member that should leave the cluster gracefully (its shards hand over first).</summary>
public sealed record ClusterLeaveRequest(string? Address);

/// <summary>Reply of POST /api/cluster/leave and POST /api/cluster/down-unreachable: the members acted on.</summary>
public sealed record ClusterActionResult(string Action, IReadOnlyList<string> Members);

/// <summary>One node of GET /api/actors.</summary>
public sealed record ActorNode(string Name, string Path, IReadOnlyList<ActorNode> Children);

/// <summary>One domain in GET /api/queues.</summary>
public sealed record DomainQueue(string Domain, int Pending, int Deferred, int Bouncing, int Sessions, DateTimeOffset? Oldest,
    DateTimeOffset? NextAttempt, string? LastError)
{
    public int Held { get; init; }

    /// <summary>The bounce category of <see cref="LastError"/> (InvalidRecipient, RateLimited, …).</summary>
    public string? LastCategory { get; init; }
}

/// <summary>GET /api/queues/{domain}/messages: <see cref="Total"/> messages are queued; the oldest are listed.</summary>
public sealed record DomainMessages(string Domain, int Total, IReadOnlyList<QueuedMessageEntry> Messages);

public sealed record QueuedMessageEntry(string Id, DateTimeOffset ArrivedAt, IReadOnlyList<QueuedRecipient> Recipients);

/// <summary>One recipient of a queued message: its state (Pending, Deferred, Bouncing), attempts so far, last reply and its category.</summary>
public sealed record QueuedRecipient(string Address, string State, int Attempts, string? LastReply, string? Category, DateTimeOffset? NextAttempt, bool Held);

/// <summary>One line of the delivery log in GET /api/deliveries (see docs/operations.md for the fields).</summary>
public sealed record DeliveryEntry(DateTimeOffset Time, string QueueId, string? MessageId, string Recipient, string Outcome, string Reply,
    string? MxHost, string? Ip, bool Tls, int Attempt, string? Route, string? Category, string? MtaSts, string? User)
{
    /// <summary>The destination site of an attempt, or the site a "site" line (a suspension, reduction or its end) is about.</summary>
    public string? Site { get; init; }

    /// <summary>On a "site" line: until when the suspension or reduction holds.</summary>
    public DateTimeOffset? Until { get; init; }
}

/// <summary>Reply of POST /api/queues/{domain}/{action} and /api/messages/{id}/{action}.</summary>
public sealed record QueueActionResult(string Operation, int Recipients);

public sealed record QueuesView(long Undispatched, IReadOnlyList<DomainQueue> Domains);

/// <summary>One entry of GET /api/settings/history.</summary>
public sealed record SettingsHistoryEntry(long Version, DateTimeOffset At, string By, string Node, IReadOnlyList<string> Changed);

/// <summary>Body of POST /api/certs: a PEM certificate, trusted as an extra CA or pinned as a server's own certificate.</summary>
public sealed record TrustCertificateRequest(string? Pem, string? Kind, string? Sha256);

/// <summary>One trusted certificate in GET /api/certs.</summary>
public sealed record TrustedCertificateView(string Kind, string Sha256, string Subject, DateTimeOffset? NotAfter)
{
    /// <summary>The issuer's name; null for a fingerprint pinned without its certificate.</summary>
    public string? Issuer { get; init; }
}

/// <summary>
/// GET /api/certs/last-refused: the certificate the external server presented when this node last refused it, with
/// its PEM (to pin it: POST /api/certs with kind Pinned).
/// </summary>
public sealed record RefusedCertificateView(string Host, string Subject, string Issuer, string Sha256, DateTimeOffset NotBefore,
    DateTimeOffset NotAfter, string Problem, string Pem, DateTimeOffset RefusedAt);

/// <summary>One ranked candidate of GET /api/settings/suggest.</summary>
public sealed record SuggestionView(string Host, int Port, string Tls, string? Username, IReadOnlyList<string> Sources, int Score);

/// <summary>Body of POST /api/dkim: a new key for a signing domain, generated by the node.</summary>
public sealed record DkimKeyRequest(string? Domain, string? Selector, string? Algorithm);

/// <summary>
/// One key in GET /api/dkim (never its private part): the TXT record to publish at <see cref="DnsName"/>, as one value
/// (<see cref="DnsRecord"/>) and as a zone-file line of strings of at most 255 octets (<see cref="ZoneLine"/>).
/// </summary>
public sealed record DkimKeyView(string Domain, string Selector, string Algorithm, bool Active, DateTimeOffset CreatedAt,
    string DnsName, string DnsRecord, string ZoneLine);

/// <summary>Body of POST /api/users: a submission login. The password is hashed by the node that takes the request.</summary>
public sealed record UserRequest(string? Name, string? Password, IReadOnlyList<string>? SenderDomains);

/// <summary>Body of PUT /api/users/{name}/password.</summary>
public sealed record PasswordRequest(string? Password);

/// <summary>Body of PUT /api/users/{name}/sender-domains: the only MAIL FROM domains the user may use; empty: any.</summary>
public sealed record SenderDomainsRequest(IReadOnlyList<string>? SenderDomains);

/// <summary>One submission user in GET /api/users: never its password or hash.</summary>
public sealed record UserView(string Name, IReadOnlyList<string> SenderDomains, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

/// <summary>
/// One destination site in GET /api/sites on this node: the domains that used it lately, sessions open (busy and idle,
/// both count toward the limit), the limit in force and why, the message rate, and any suspension or reduction.
/// </summary>
public sealed record SiteView(string Site, IReadOnlyList<string> Domains, int Open, int Idle, int Limit, string LimitReason, string? Rate,
    DateTimeOffset? SuspendedUntil, string? SuspendedBecause, DateTimeOffset? ReducedUntil, int Waiting, DateTimeOffset LastUsed);

/// <summary>GET /api/sites: the sites of the node that answers (limits are per node; cluster-wide rules show this node's share).</summary>
public sealed record SitesView(string Node, int UpNodes, IReadOnlyList<SiteView> Sites);

/// <summary>Body of POST /api/sites/{site}/suspend: a duration (30s, 15m, 2h, 1d) and an optional reason.</summary>
public sealed record SiteSuspendRequest(string? For, string? Reason);

/// <summary>Reply of POST /api/shaping/reload.</summary>
public sealed record ShapingReloadResult(bool Reloaded, int Entries, string? Problem);
