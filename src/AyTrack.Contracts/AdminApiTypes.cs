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
}

/// <summary>Reply of POST /api/queues/{domain}/{action} and /api/messages/{id}/{action}.</summary>
public sealed record QueueActionResult(string Operation, int Recipients);

public sealed record QueuesView(long Undispatched, IReadOnlyList<DomainQueue> Domains);

/// <summary>One entry of GET /api/settings/history.</summary>
public sealed record SettingsHistoryEntry(long Version, DateTimeOffset At, string By, string Node, IReadOnlyList<string> Changed);

/// <summary>Body of POST /api/certs: a PEM certificate, trusted as an extra CA or pinned as a server's own certificate.</summary>
public sealed record TrustCertificateRequest(string? Pem, string? Kind, string? Sha256);

/// <summary>One trusted certificate in GET /api/certs.</summary>
public sealed record TrustedCertificateView(string Kind, string Sha256, string Subject, DateTimeOffset? NotAfter);

/// <summary>One ranked candidate of GET /api/settings/suggest.</summary>
public sealed record SuggestionView(string Host, int Port, string Tls, string? Username, IReadOnlyList<string> Sources, int Score);
