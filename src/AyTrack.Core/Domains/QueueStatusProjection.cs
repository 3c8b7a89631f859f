using AyTrack.Core.Addresses;

namespace AyTrack.Core.Domains;

/// <summary>What `aytrack queue show` and GET /api/queues report for one domain, read from its queue state.</summary>
public static class QueueStatusProjection
{
    /// <param name="unreachableUntil">
    /// Set while the domain could not be reached at its last attempt (<see cref="DomainReachability"/>): its
    /// recipients not tried yet wait for that time as deferred ones wait for theirs, so they are counted as deferred,
    /// and the domain's next attempt is no earlier than it.
    /// </param>
    public static DomainQueries.QueueStatus From(RecipientDomain domain, DomainQueueState state, int sessions, string? lastError, double retryDays,
        DateTimeOffset? unreachableUntil = null)
    {
        var (pending, deferred, held, oldest) = Figures(state, unreachableUntil is not null);
        var next = state.NextWakeUp(retryDays);
        if (unreachableUntil is { } until && pending + deferred > 0 && (next is null || next < until))
        {
            next = until;
        }

        return new DomainQueries.QueueStatus(domain, pending, deferred, sessions, oldest, lastError)
        {
            Bouncing = state.Messages.Values.Sum(m => m.Recipients.Values.Count(r => r.State == RecipientState.Bouncing)),
            Held = held,
            NextAttempt = next,
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
    /// <param name="unreachable">The domain is waiting out an unreachable interval: pending recipients count as deferred.</param>
    public static (int Pending, int Deferred, int Held, DateTimeOffset? Oldest) Figures(DomainQueueState state, bool unreachable = false)
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
                else if (recipient.State == RecipientState.Pending && !unreachable)
                {
                    pending++;
                }
                else if (recipient.State == RecipientState.Pending)
                {
                    deferred++;
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
