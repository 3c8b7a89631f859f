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
}
