using AyTrack.Core.Addresses;
using AyTrack.Core.Delivery;

namespace AyTrack.Core.Domains;

/// <summary>Every message addressed to a domain actor carries its domain; the shard extractor reads it.</summary>
public interface IWithRecipientDomain
{
    RecipientDomain Domain { get; }
}

/// <summary>Marker for events persisted by the domain actor; they have their own serializer with fixed manifests.</summary>
public interface IDomainEvent;

public static class DomainCommands
{
    /// <summary>
    /// The messages for one domain that an outbox drain found, in one command: the domain actor writes all their
    /// events in one journal write and confirms them together with <see cref="EnqueuedBatch"/> once durable. The outbox
    /// may repeat a batch after a crash; recipients already queued are ignored.
    /// </summary>
    public sealed record EnqueueBatch(RecipientDomain Domain, IReadOnlyList<NewMessage> Messages) : IWithRecipientDomain;

    /// <summary>One accepted message's recipients at this domain, as part of an <see cref="EnqueueBatch"/>.</summary>
    public sealed record NewMessage(RecipientDomain Domain, QueueId Id, IReadOnlyList<string> Recipients, DateTimeOffset ArrivedAt);

    public sealed record EnqueuedBatch(RecipientDomain Domain, int Messages);

    /// <summary>
    /// An operator's action on this domain's queue, or on one message (<see cref="Id"/>) in it. Replied to with
    /// <see cref="QueueActionDone"/> once persisted.
    /// </summary>
    public sealed record QueueAction(RecipientDomain Domain, QueueId? Id, QueueOperation Operation) : IWithRecipientDomain;

    public sealed record QueueActionDone(RecipientDomain Domain, QueueOperation Operation, int Recipients);

    /// <summary>Start the domain actor (if it is not running) so it looks at its queue: sent for domains with mail after a restart.</summary>
    public sealed record Wake(RecipientDomain Domain) : IWithRecipientDomain;
}

/// <summary>What an operator can do to queued mail (Postfix's postqueue -f / postsuper -h, -H, -d, and a forced bounce).</summary>
public enum QueueOperation
{
    /// <summary>Try deferred recipients now instead of at their retry time.</summary>
    Retry,

    /// <summary>Keep recipients queued without trying them (and without expiring them) until released.</summary>
    Hold,

    /// <summary>Undo a hold; released recipients are tried at once.</summary>
    Release,

    /// <summary>Drop recipients without delivery and without a bounce.</summary>
    Delete,

    /// <summary>Give up on recipients now: a DSN goes to the sender as for a permanent failure.</summary>
    Bounce,
}

public static class DomainQueries
{
    public sealed record GetQueue(RecipientDomain Domain) : IWithRecipientDomain;

    /// <summary>The domain's queued messages, oldest first, at most <see cref="Limit"/> of them.</summary>
    public sealed record GetMessages(RecipientDomain Domain, int Limit) : IWithRecipientDomain;

    /// <summary>The answer to <see cref="GetMessages"/>: <see cref="Total"/> messages are queued, the first ones listed.</summary>
    public sealed record QueueMessages(RecipientDomain Domain, int Total, IReadOnlyList<QueuedMessageView> Messages);

    public sealed record QueuedMessageView(QueueId Id, DateTimeOffset ArrivedAt, IReadOnlyList<QueuedRecipientView> Recipients);

    public sealed record QueuedRecipientView(string Address, RecipientState State, int Attempts, string? LastReply, DateTimeOffset? NextAttemptAt, bool Held);

    public sealed record QueueStatus(
        RecipientDomain Domain,
        int Pending,
        int Deferred,
        int InFlightSessions,
        DateTimeOffset? Oldest,
        string? LastError)
    {
        public int Bouncing { get; init; }

        public int Held { get; init; }

        public DateTimeOffset? NextAttempt { get; init; }
    }
}

public static class DomainEvents
{
    public sealed record MessageEnqueued(QueueId Id, RecipientDomain Domain, IReadOnlyList<string> Recipients, DateTimeOffset ArrivedAt)
        : IDomainEvent;

    /// <summary>
    /// Results of one delivery attempt of one message. <see cref="RetryAt"/> is when its deferred recipients are tried
    /// again: chosen (with jitter) when the event is made, so replaying the journal gives the same schedule.
    /// </summary>
    public sealed record AttemptCompleted(QueueId Id, IReadOnlyList<RecipientAttempt> Results, DateTimeOffset At) : IDomainEvent
    {
        public DateTimeOffset? RetryAt { get; init; }

        public string? RemoteHost { get; init; }
    }

    /// <summary>These recipients reached the end of timing.retryDays undelivered.</summary>
    public sealed record RecipientsExpired(QueueId Id, IReadOnlyList<string> Recipients, DateTimeOffset At) : IDomainEvent;

    /// <summary>The messages of one <see cref="DomainCommands.EnqueueBatch"/> that were new: one journal row for all.</summary>
    public sealed record MessagesEnqueued(IReadOnlyList<MessageEnqueued> Messages) : IDomainEvent;

    /// <summary>The results of one session (a batch of messages): one journal row for all.</summary>
    public sealed record AttemptsCompleted(IReadOnlyList<AttemptCompleted> Attempts) : IDomainEvent;

    /// <summary>An operator acted on these recipients (see <see cref="QueueOperation"/>).</summary>
    public sealed record OperatorActed(QueueId Id, QueueOperation Operation, IReadOnlyList<string> Recipients, DateTimeOffset At) : IDomainEvent;

    /// <summary>The delivery status notification for these recipients is in the spool (or was not due: null sender).</summary>
    public sealed record BouncesQueued(QueueId Id, IReadOnlyList<string> Recipients, DateTimeOffset At) : IDomainEvent;

    /// <summary>
    /// These still-deferred recipients had their one delay warning (RFC 3464 "delayed"), or were not due one (null
    /// sender, NOTIFY without DELAY): either way they are never warned again.
    /// </summary>
    public sealed record DelayWarningsQueued(QueueId Id, IReadOnlyList<string> Recipients, DateTimeOffset At) : IDomainEvent;
}
