using AyTrack.Core.Addresses;

namespace AyTrack.Core.Spool;

/// <summary>The envelope of an accepted message. An empty <see cref="Sender"/> is the null reverse-path (&lt;&gt;).</summary>
public sealed record SpoolEnvelope(
    QueueId Id,
    string Sender,
    IReadOnlyList<EmailAddress> Recipients,
    DateTimeOffset ReceivedAt,
    bool SmtpUtf8,
    string? MessageIdHeader)
{
    /// <summary>The DSN request (RFC 3461) the client made with the message; null when it made none.</summary>
    public AyTrack.Core.Dsn.DsnOptions? Dsn { get; init; }

    /// <summary>The login that submitted the message (SMTP AUTH, RFC 4954); null when the client did not authenticate.</summary>
    public string? AuthenticatedUser { get; init; }
}

/// <summary>Recipients of one message at one domain that have not yet been handed to their domain actor.</summary>
public sealed record OutboxEntry(QueueId Id, RecipientDomain Domain, IReadOnlyList<string> Recipients, DateTimeOffset ReceivedAt);

public sealed record SpooledMessage(SpoolEnvelope Envelope, byte[] Body);

/// <summary>
/// The durable store of accepted mail: bodies, envelopes, and the outbox of recipients not yet handed to their
/// domain actors. <see cref="AcceptAsync"/> returning is the only thing that may turn into a 250 or a 202.
/// </summary>
public interface ISpool : IAsyncDisposable
{
    /// <summary>Raised after a commit that put new entries into the outbox.</summary>
    event Action? OutboxChanged;

    /// <summary>
    /// Writes body, envelope and all recipients in one transaction and returns once it is on disk. The content is
    /// streamed into the store, so a large message is never held whole in memory; the caller keeps it readable until
    /// the task completes.
    /// </summary>
    Task AcceptAsync(SpoolEnvelope envelope, MessageContent content, CancellationToken cancellationToken);

    /// <summary>As above, for a body already in memory (HTTP injection, DSNs).</summary>
    Task AcceptAsync(SpoolEnvelope envelope, ReadOnlyMemory<byte> body, CancellationToken cancellationToken) =>
        AcceptAsync(envelope, MessageContent.FromMemory(body), cancellationToken);

    Task<IReadOnlyList<OutboxEntry>> ReadOutboxAsync(int maxRecipients, CancellationToken cancellationToken);

    /// <summary>Marks the recipients of these (message, domain) pairs as handed to their domain actor.</summary>
    Task MarkDispatchedAsync(IReadOnlyCollection<OutboxEntry> entries, CancellationToken cancellationToken);

    Task<SpooledMessage?> LoadAsync(QueueId id, CancellationToken cancellationToken);

    /// <summary>
    /// The envelope senders of these messages (empty for the null reverse-path), without their bodies: what a
    /// sender-domain egress pool needs before a session is chosen. Messages no longer in the spool are left out.
    /// </summary>
    Task<IReadOnlyDictionary<string, string>> LoadSendersAsync(IReadOnlyCollection<QueueId> ids, CancellationToken cancellationToken);

    /// <summary>
    /// Records that these recipients reached a final state; a message whose recipients are all final leaves the
    /// spool, body included.
    /// </summary>
    Task MarkFinalAsync(QueueId id, IReadOnlyCollection<string> recipients, CancellationToken cancellationToken);

    Task<SpoolCounts> CountAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Takes over the outbox rows claimed by a node that left the cluster or was downed (named host:port), so its
    /// accepted but undispatched mail is dispatched now rather than when its claims expire. Returns the number of
    /// recipients taken over; a spool that only one node uses has none.
    /// </summary>
    Task<int> TakeOverClaimsAsync(string node, CancellationToken cancellationToken);

    /// <summary>Domains with recipients already handed to their domain actor and not yet final.</summary>
    Task<IReadOnlyList<RecipientDomain>> PendingDomainsAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Puts every recipient that was handed to a domain actor and is not final back into the outbox, so it is handed
    /// over again: how the domain queues are rebuilt when the journal that held them is lost (the spool is the record of
    /// what was accepted). Returns the number of recipients.
    /// </summary>
    Task<int> RequeueDispatchedAsync(CancellationToken cancellationToken);

    /// <summary>Looks for damage in the stored data (SQLite: PRAGMA quick_check): null when sound, else what was found.</summary>
    Task<string?> CheckIntegrityAsync(CancellationToken cancellationToken);

    /// <summary>Writes a probe row through the same path as accepted mail and reads it back; throws when either fails.</summary>
    Task ProbeAsync(CancellationToken cancellationToken);
}

public sealed record SpoolCounts(long Messages, long Recipients, long Undispatched);
