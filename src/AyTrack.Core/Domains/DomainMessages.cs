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
    /// <summary>Queue these recipients of an accepted message. Replied to with <see cref="Enqueued"/> once durable.</summary>
    public sealed record Enqueue(RecipientDomain Domain, QueueId Id, IReadOnlyList<string> Recipients, DateTimeOffset ArrivedAt)
        : IWithRecipientDomain;

    public sealed record Enqueued(RecipientDomain Domain, QueueId Id);
}

public static class DomainQueries
{
    public sealed record GetQueue(RecipientDomain Domain) : IWithRecipientDomain;

    public sealed record QueueStatus(
        RecipientDomain Domain,
        int Pending,
        int Deferred,
        int InFlightSessions,
        DateTimeOffset? Oldest,
        string? LastError);
}

public static class DomainEvents
{
    public sealed record MessageEnqueued(QueueId Id, RecipientDomain Domain, IReadOnlyList<string> Recipients, DateTimeOffset ArrivedAt)
        : IDomainEvent;

    public sealed record AttemptCompleted(QueueId Id, IReadOnlyList<RecipientAttempt> Results, DateTimeOffset At) : IDomainEvent;
}
