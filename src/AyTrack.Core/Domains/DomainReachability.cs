using AyTrack.Core.Delivery;

namespace AyTrack.Core.Domains;

/// <summary>
/// Whether a domain's mail servers could be reached at all, so that a domain that is down costs one connection
/// attempt per retry interval instead of one per message that comes due (Postfix's "dead destination": its queue
/// manager defers a destination's mail without trying it once a connection to it has failed, and tries again after
/// the minimal backoff). After a session reached no host (every MX refused, timed out, greeted with 4xx, or DNS failed
/// temporarily), the domain waits <c>MinBackoff</c> (±10 %); then one message goes as a probe, and only a probe that
/// reaches a server opens the domain to full sessions again. Messages not tried meanwhile keep their state: no
/// attempt is counted and nothing is written for them, which is what keeps a retry round over a million queued
/// messages for ten thousand dead domains from costing a million journal writes. Kept in memory, as Postfix keeps it;
/// after a restart <see cref="Recovered"/> reads what the journal says about the last attempt.
/// </summary>
public sealed class DomainReachability
{
    /// <summary>When the domain may be tried again; null while it is reachable (or not known to be down).</summary>
    public DateTimeOffset? UnreachableUntil { get; private set; }

    /// <summary>The last session's reply that reached no host: why the domain's mail waits.</summary>
    public string? Reason { get; private set; }

    /// <summary>Down since the last session: sessions carry one message, one at a time, until one reaches a server.</summary>
    public bool Probing => UnreachableUntil is not null;

    /// <summary>True while the domain is waiting out its interval: no session may start before <see cref="UnreachableUntil"/>.</summary>
    public bool Waiting(DateTimeOffset now) => UnreachableUntil is { } until && until > now;

    /// <summary>How many messages the next session may carry.</summary>
    public int BatchLimit(int normal) => Probing ? 1 : normal;

    /// <summary>How many sessions may be out at once.</summary>
    public int SessionLimit(int normal) => Probing ? 1 : normal;

    /// <summary>
    /// Learns from one session's results: no host reached (every result deferred, none from a server) starts or
    /// renews the wait; any result from a server (delivered, refused or deferred by it) ends it.
    /// </summary>
    public void Observe(IReadOnlyList<MessageAttempt> attempts, DateTimeOffset now, TimeSpan minBackoff, Random random)
    {
        if (attempts.Count == 0)
        {
            return;
        }

        if (ReachedNoHost(attempts))
        {
            UnreachableUntil = RetrySchedule.NextAttempt(1, now, minBackoff, minBackoff, random);
            Reason = attempts[0].Results.Count > 0 ? attempts[0].Results[0].Reply.ToString() : Reason;
        }
        else
        {
            Clear();
        }
    }

    /// <summary>
    /// After a restart (or a shard's move), what the journal says about the domain: when its most recently deferred
    /// recipient reached no host (no remote MTA, not a policy deferral), the first session after recovery is a probe of
    /// one message instead of a full round of the queue. Otherwise nothing is assumed.
    /// </summary>
    public void Recovered(DomainQueueState state, DateTimeOffset now)
    {
        RecipientStatus? latest = null;
        foreach (var message in state.Messages.Values)
        {
            foreach (var status in message.Recipients.Values)
            {
                if (status is { State: RecipientState.Deferred, Held: false } && (latest is null || status.NextAttemptAt > latest.NextAttemptAt))
                {
                    latest = status;
                }
            }
        }

        if (latest is { RemoteMta: null, LastReply: { } reply } &&
            !(reply.Length > 4 && int.TryParse(reply.AsSpan(0, 3), out var code) && IsPolicyDeferral(SmtpReply.From(code, reply[4..]))))
        {
            UnreachableUntil = now;
            Reason = reply;
        }
    }

    /// <summary>An operator's retry or release, or a settings change (the route may be different now): try at once.</summary>
    public void Clear()
    {
        UnreachableUntil = null;
        Reason = null;
    }

    /// <summary>
    /// A session that reached no host: every recipient deferred and no attempt names a remote host (the transports
    /// name the host that answered whenever one did, and none when no MX, relay or DNS answer could be had). A deferral
    /// for our own security policy (4.7.X, RFC 3463 §3.8: an MTA-STS policy the hosts do not meet, a password that
    /// would go in clear) is not the domain being down: the policy can change with the next DNS answer, so the next
    /// message is tried as it comes.
    /// </summary>
    public static bool ReachedNoHost(IReadOnlyList<MessageAttempt> attempts) =>
        attempts.Count > 0 && attempts.All(a => a.RemoteHost is null && a.Results.All(r =>
            r.Outcome == RecipientOutcome.Deferred && !IsPolicyDeferral(r.Reply)));

    private static bool IsPolicyDeferral(SmtpReply reply) => reply.Enhanced?.StartsWith("4.7.", StringComparison.Ordinal) == true;
}
