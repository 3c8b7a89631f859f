namespace AyTrack.Core.Delivery;

/// <summary>One line of the delivery log: one recipient in one attempt.</summary>
public sealed record DeliveryLogEntry(
    DateTimeOffset Time,
    string QueueId,
    string? MessageId,
    string Recipient,
    string Outcome,
    string Reply,
    string? MxHost,
    string? Ip,
    bool Tls,
    int Attempt)
{
    /// <summary>The MTA-STS policy the attempt followed ("enforce"), or what a testing policy would have refused.</summary>
    public string? MtaSts { get; init; }

    /// <summary>Why it failed (a <see cref="AyTrack.Core.Bounces.BounceCategory"/> name); set by the log for every failure.</summary>
    public string? Category { get; init; }

    /// <summary>The login that submitted the message (SMTP AUTH); absent for mail from an allowed network or the API.</summary>
    public string? User { get; init; }

    /// <summary>How the attempt went: "direct" (the domain's MX) or "relay" (the external server); absent for lines that are not attempts.</summary>
    public string? Route { get; init; }

    /// <summary>
    /// The destination site: on every attempt line, and on the lines (outcome "site") that record a site's suspension,
    /// reduction or their end, whose reply field says what changed and why.
    /// </summary>
    public string? Site { get; init; }

    /// <summary>On a site line: until when the suspension or reduction holds.</summary>
    public DateTimeOffset? Until { get; init; }

    /// <summary>A site's suspension, reduction or their end, as a line of the delivery log.</summary>
    public static DeliveryLogEntry ForSite(AyTrack.Core.Shaping.SiteChange change) =>
        new(change.At, string.Empty, null, string.Empty, "site", $"{change.What}: {change.Reason}", null, null, false, 0)
        {
            Site = change.Site,
            Until = change.Until,
        };
}

/// <summary>
/// Where every attempt's outcome per recipient is recorded (the structured delivery log): the transports write
/// attempts, the domain actor operator deletions, the bounce actor the DSNs it queued.
/// </summary>
public interface IDeliveryLog
{
    void Write(IEnumerable<DeliveryLogEntry> entries);
}
