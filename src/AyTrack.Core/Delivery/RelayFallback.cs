namespace AyTrack.Core.Delivery;

/// <summary>
/// DirectThenRelay: which results of a direct attempt the external relay may fix in the same attempt (as Postfix's
/// smtp_fallback_relay). Anything temporary — every MX unreachable or timing out, 4xx, TLS failure — and a refusal
/// of the sending host (5.7.x, e.g. a blocklisted IP) go to the relay. A verdict on the recipient (5.1.x, 5.2.x, or
/// any other permanent reply about the message) would be the same through the relay, so it bounces.
/// </summary>
public static class RelayFallback
{
    public static bool ShouldRelay(RecipientAttempt attempt) => attempt.Outcome switch
    {
        RecipientOutcome.Delivered => false,
        RecipientOutcome.Deferred => true,
        RecipientOutcome.Held => false,
        _ => attempt.Reply.Enhanced is { } enhanced && enhanced.StartsWith("5.7.", StringComparison.Ordinal),
    };
}
