using System.Text.RegularExpressions;
using AyTrack.Core.Delivery;

namespace AyTrack.Core.Bounces;

/// <summary>Why a delivery failed, temporarily or for good, as a sender or an automation rule needs to know it.</summary>
public enum BounceCategory
{
    InvalidRecipient,
    MailboxFull,
    MessageTooLarge,
    SpamBlock,
    PolicyBlock,
    RateLimited,

    /// <summary>SPF, DKIM or DMARC did not pass (RFC 7372 §3.x codes and the providers' own).</summary>
    AuthenticationFailure,
    DnsFailure,
    TlsFailure,
    ConnectionFailure,
    ContentRejected,
    Other,
}

/// <summary>
/// One classification rule: every condition it has must hold. <see cref="Status"/> is an enhanced status code
/// (RFC 3463), exact ("5.1.1") or with a wildcard last part ("5.7.*"); <see cref="Reply"/> a reply code ("550") or
/// class ("4xx"); <see cref="Text"/> a case-insensitive regular expression on the reply text.
/// </summary>
public sealed record BounceRule(string Name, BounceCategory Category, string? Status, string? Reply, Regex? Text, int Line)
{
    public bool Matches(SmtpReply reply)
    {
        if (Status is not null && !StatusMatches(Status, reply.Enhanced))
        {
            return false;
        }

        if (Reply is not null && !ReplyMatches(Reply, reply.Code))
        {
            return false;
        }

        try
        {
            return Text is null || Text.IsMatch(reply.Text);
        }
        catch (RegexMatchTimeoutException)
        {
            // An operator's pattern that backtracks without end on some reply: no match, never a stuck or failed
            // delivery-log write (each match has a 50 ms budget).
            return false;
        }
    }

    private static bool StatusMatches(string pattern, string? enhanced) =>
        enhanced is not null && (pattern.EndsWith(".*", StringComparison.Ordinal)
            ? enhanced.StartsWith(pattern[..^1], StringComparison.Ordinal)
            : enhanced == pattern);

    private static bool ReplyMatches(string pattern, int code) => pattern.EndsWith("xx", StringComparison.Ordinal)
        ? code / 100 == pattern[0] - '0'
        : pattern == code.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>An ordered list of rules: the first that matches decides; none matching is <see cref="BounceCategory.Other"/>.</summary>
public sealed class BounceRuleSet(IReadOnlyList<BounceRule> rules)
{
    public IReadOnlyList<BounceRule> Rules { get; } = rules;

    public BounceCategory Classify(SmtpReply reply) => Rules.FirstOrDefault(r => r.Matches(reply))?.Category ?? BounceCategory.Other;

    /// <summary>Classifies a reply as the delivery log writes it ("550 5.1.1 text").</summary>
    public BounceCategory Classify(string reply)
    {
        var space = reply.IndexOf(' ');
        return space == 3 && int.TryParse(reply.AsSpan(0, 3), out var code)
            ? Classify(SmtpReply.From(code, reply[4..]))
            : Classify(new SmtpReply(0, null, reply));
    }
}

/// <summary>The rules in force, replaced as a whole when the rules file is reloaded.</summary>
public sealed class BounceClassifier(BounceRuleSet rules)
{
    private volatile BounceRuleSet _rules = rules;

    public BounceRuleSet Rules
    {
        get => _rules;
        set => _rules = value;
    }

    public BounceCategory Classify(SmtpReply reply) => _rules.Classify(reply);

    public BounceCategory Classify(string reply) => _rules.Classify(reply);
}
