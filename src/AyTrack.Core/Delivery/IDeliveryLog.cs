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
}

/// <summary>
/// Where every attempt's outcome per recipient is recorded (the structured delivery log): the transports write
/// attempts, the domain actor operator deletions, the bounce actor the DSNs it queued.
/// </summary>
public interface IDeliveryLog
{
    void Write(IEnumerable<DeliveryLogEntry> entries);
}
