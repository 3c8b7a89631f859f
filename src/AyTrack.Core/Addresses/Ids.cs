namespace AyTrack.Core.Addresses;

/// <summary>
/// The spool's id for one accepted message (one SMTP transaction or one injection). Version 7 GUIDs sort by
/// arrival time, which keeps the spool's primary key append-only and makes ids roughly chronological for operators.
/// </summary>
public sealed record QueueId(string Value)
{
    public static QueueId New() => new(Guid.CreateVersion7().ToString("N"));

    public override string ToString() => Value;
}

/// <summary>
/// A recipient domain in its canonical form: lower case, IDNA A-label, no trailing dot. Everything that keys state
/// by domain (sharding, queues, DNS cache) uses this form, so "Example.TEST." and "example.test" share one queue.
/// </summary>
public sealed record RecipientDomain
{
    public RecipientDomain(string value)
    {
        if (!DomainName.TryNormalize(value, out var normalized, out var error))
        {
            throw new ArgumentException(error, nameof(value));
        }

        Value = normalized;
    }

    public string Value { get; }

    public override string ToString() => Value;
}
