using System.Text.RegularExpressions;

namespace AyTrack.Core.Delivery;

/// <summary>
/// A reply as the remote server gave it, or as AyTrack synthesises it for failures that never reached a server
/// (DNS, connection refused). <see cref="Enhanced"/> is the RFC 3463 status code when there is one.
/// </summary>
public sealed partial record SmtpReply(int Code, string? Enhanced, string Text)
{
    public override string ToString() => Enhanced is null ? $"{Code} {Text}" : $"{Code} {Enhanced} {Text}";

    /// <summary>Builds a reply from a code and a text that may begin with an enhanced status code.</summary>
    public static SmtpReply From(int code, string text)
    {
        var trimmed = text.Trim();
        var match = EnhancedPattern().Match(trimmed);
        return match.Success
            ? new SmtpReply(code, match.Groups[1].Value, trimmed[match.Length..].Trim())
            : new SmtpReply(code, null, trimmed);
    }

    // RFC 3463 §2: class.subject.detail, class 2, 4 or 5; subject and detail up to three digits.
    [GeneratedRegex(@"^([245]\.\d{1,3}\.\d{1,3})(?:\s|$)")]
    private static partial Regex EnhancedPattern();
}

public enum RecipientOutcome
{
    Delivered,
    Deferred,
    Failed,

    /// <summary>
    /// The message's content could not be read from the spool: kept queued and held (neither tried nor expired, never
    /// bounced for it) until an operator repairs the storage and releases it, or decides otherwise.
    /// </summary>
    Held,
}

/// <summary>
/// Decides what a reply means for a recipient. RFC 3463 §3: when an enhanced code is present its class wins over
/// the basic code's first digit (a "550 4.2.2" is temporary; a "451 5.1.1" is permanent).
/// </summary>
public static class FailureClassification
{
    public static RecipientOutcome Classify(SmtpReply reply)
    {
        var cls = reply.Enhanced is { Length: > 0 } e ? e[0] - '0' : reply.Code / 100;
        return cls switch
        {
            2 => RecipientOutcome.Delivered,
            5 => RecipientOutcome.Failed,
            _ => RecipientOutcome.Deferred,
        };
    }
}
