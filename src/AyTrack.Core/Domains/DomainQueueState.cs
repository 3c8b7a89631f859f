using System.Collections.Immutable;
using AyTrack.Core.Addresses;
using AyTrack.Core.Delivery;

namespace AyTrack.Core.Domains;

public enum RecipientState
{
    /// <summary>Waiting for a session.</summary>
    Pending,

    /// <summary>Temporarily failed; keeps its last reply (part 2 schedules the retry).</summary>
    Deferred,
}

public sealed record RecipientStatus(RecipientState State, int Attempts, string? LastReply);

public sealed record QueuedMessage(QueueId Id, DateTimeOffset ArrivedAt, ImmutableSortedDictionary<string, RecipientStatus> Recipients);

/// <summary>
/// The persisted state of one recipient domain's queue. Pure: commands become events through
/// <see cref="Process(DomainCommands.Enqueue)"/>, events change state through <see cref="Apply"/>; the actor only
/// persists and replies. Final recipients (delivered or failed) leave the state, so it holds only live mail.
/// </summary>
public sealed record DomainQueueState(ImmutableSortedDictionary<string, QueuedMessage> Messages)
{
    public static DomainQueueState Empty { get; } = new(ImmutableSortedDictionary<string, QueuedMessage>.Empty.WithComparers(StringComparer.Ordinal));

    public int RecipientCount => Messages.Values.Sum(m => m.Recipients.Count);

    /// <summary>
    /// Enqueue is idempotent: the outbox may repeat it after a crash, so recipients already queued are ignored and
    /// only new ones become an event (null when there is nothing new).
    /// </summary>
    public DomainEvents.MessageEnqueued? Process(DomainCommands.Enqueue command)
    {
        var known = Messages.TryGetValue(command.Id.Value, out var existing) ? existing.Recipients : null;
        var fresh = command.Recipients
            .Distinct(StringComparer.Ordinal)
            .Where(r => known is null || !known.ContainsKey(r))
            .ToList();

        return fresh.Count == 0 ? null : new DomainEvents.MessageEnqueued(command.Id, command.Domain, fresh, command.ArrivedAt);
    }

    public DomainQueueState Apply(IDomainEvent @event) => @event switch
    {
        DomainEvents.MessageEnqueued e => ApplyEnqueued(e),
        DomainEvents.AttemptCompleted e => ApplyAttempt(e),
        _ => throw new ArgumentOutOfRangeException(nameof(@event), @event.GetType().Name, "unknown domain event"),
    };

    /// <summary>
    /// The next messages to hand to a session: pending recipients only, oldest message first, skipping messages
    /// already in flight.
    /// </summary>
    public IReadOnlyList<BatchItem> NextBatch(int maxMessages, IReadOnlySet<string> inFlight)
    {
        var batch = new List<BatchItem>();
        foreach (var message in Messages.Values.OrderBy(m => m.ArrivedAt).ThenBy(m => m.Id.Value, StringComparer.Ordinal))
        {
            if (batch.Count >= maxMessages)
            {
                break;
            }

            if (inFlight.Contains(message.Id.Value))
            {
                continue;
            }

            var pending = message.Recipients.Where(r => r.Value.State == RecipientState.Pending).ToList();
            if (pending.Count > 0)
            {
                batch.Add(new BatchItem(message.Id, pending.Select(r => r.Key).ToList(), pending.Max(r => r.Value.Attempts) + 1));
            }
        }

        return batch;
    }

    private DomainQueueState ApplyEnqueued(DomainEvents.MessageEnqueued e)
    {
        var message = Messages.TryGetValue(e.Id.Value, out var existing)
            ? existing
            : new QueuedMessage(e.Id, e.ArrivedAt, ImmutableSortedDictionary<string, RecipientStatus>.Empty.WithComparers(StringComparer.Ordinal));
        var recipients = message.Recipients;
        foreach (var r in e.Recipients)
        {
            recipients = recipients.SetItem(r, new RecipientStatus(RecipientState.Pending, 0, null));
        }

        return this with { Messages = Messages.SetItem(e.Id.Value, message with { Recipients = recipients }) };
    }

    private DomainQueueState ApplyAttempt(DomainEvents.AttemptCompleted e)
    {
        if (!Messages.TryGetValue(e.Id.Value, out var message))
        {
            return this;
        }

        var recipients = message.Recipients;
        foreach (var result in e.Results)
        {
            if (!recipients.TryGetValue(result.Recipient, out var status))
            {
                continue;
            }

            recipients = result.Outcome == RecipientOutcome.Deferred
                ? recipients.SetItem(result.Recipient, new RecipientStatus(RecipientState.Deferred, status.Attempts + 1, result.Reply.ToString()))
                : recipients.Remove(result.Recipient);
        }

        return this with
        {
            Messages = recipients.IsEmpty
                ? Messages.Remove(e.Id.Value)
                : Messages.SetItem(e.Id.Value, message with { Recipients = recipients }),
        };
    }
}
