using AyTrack.Core.Addresses;

namespace AyTrack.Core.Delivery;

/// <summary>One message's recipients at one domain, as handed to an SMTP session.</summary>
public sealed record BatchItem(QueueId Id, IReadOnlyList<string> Recipients, int Attempt);

/// <summary>The result for one recipient of one attempt.</summary>
public sealed record RecipientAttempt(string Recipient, RecipientOutcome Outcome, SmtpReply Reply);

/// <summary>All recipient results of one message in one attempt, and where the attempt went.</summary>
public sealed record MessageAttempt(QueueId Id, IReadOnlyList<RecipientAttempt> Results, string? RemoteHost, string? RemoteIp)
{
    public bool Tls { get; init; }

    public string? MessageIdHeader { get; init; }

    /// <summary>The login that submitted the message, for the delivery log.</summary>
    public string? User { get; init; }
}
