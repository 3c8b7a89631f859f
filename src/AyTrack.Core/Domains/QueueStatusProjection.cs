using AyTrack.Core.Addresses;

namespace AyTrack.Core.Domains;

/// <summary>What `aytrack queue show` and GET /api/queues report for one domain, read from its queue state.</summary>
public static class QueueStatusProjection
{
    public static DomainQueries.QueueStatus From(RecipientDomain domain, DomainQueueState state, int sessions, string? lastError, double retryDays)
    {
        var recipients = state.Messages.Values.SelectMany(m => m.Recipients.Values).ToList();
        return new DomainQueries.QueueStatus(
            domain,
            recipients.Count(r => r.State == RecipientState.Pending && !r.Held),
            recipients.Count(r => r.State == RecipientState.Deferred && !r.Held),
            sessions,
            state.Messages.IsEmpty ? null : state.Messages.Values.Min(m => m.ArrivedAt),
            lastError)
        {
            Bouncing = recipients.Count(r => r.State == RecipientState.Bouncing),
            Held = recipients.Count(r => r.Held),
            NextAttempt = state.NextWakeUp(retryDays),
        };
    }

    /// <summary>The first <paramref name="limit"/> messages by arrival, each with every recipient's state.</summary>
    public static DomainQueries.QueueMessages Messages(RecipientDomain domain, DomainQueueState state, int limit) =>
        new(domain, state.Messages.Count, state.Messages.Values
            .OrderBy(m => m.ArrivedAt).ThenBy(m => m.Id.Value, StringComparer.Ordinal)
            .Take(limit)
            .Select(m => new DomainQueries.QueuedMessageView(m.Id, m.ArrivedAt, m.Recipients
                .Select(r => new DomainQueries.QueuedRecipientView(r.Key, r.Value.State, r.Value.Attempts, r.Value.LastReply, r.Value.NextAttemptAt, r.Value.Held))
                .ToList()))
            .ToList());

    /// <summary>
    /// Pending, deferred and held recipients and the oldest arrival, in one pass without copying: what the node's
    /// metrics need from a domain once a second, even for a queue of a million messages.
    /// </summary>
    public static (int Pending, int Deferred, int Held, DateTimeOffset? Oldest) Figures(DomainQueueState state)
    {
        int pending = 0, deferred = 0, held = 0;
        DateTimeOffset? oldest = null;
        foreach (var message in state.Messages.Values)
        {
            oldest = oldest is null || message.ArrivedAt < oldest ? message.ArrivedAt : oldest;
            foreach (var recipient in message.Recipients.Values)
            {
                if (recipient.Held)
                {
                    held++;
                }
                else if (recipient.State == RecipientState.Pending)
                {
                    pending++;
                }
                else if (recipient.State == RecipientState.Deferred)
                {
                    deferred++;
                }
            }
        }

        return (pending, deferred, held, oldest);
    }
}
