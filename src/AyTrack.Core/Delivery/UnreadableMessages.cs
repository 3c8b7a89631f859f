using AyTrack.Core.Addresses;

namespace AyTrack.Core.Delivery;

/// <summary>
/// The queued messages whose content a delivery could not read from the spool since this node started: held rather
/// than bounced, and counted in the health report so that the damage is seen.
/// </summary>
public sealed class UnreadableMessages(TimeProvider clock)
{
    private readonly object _gate = new();
    private readonly HashSet<string> _ids = new(StringComparer.Ordinal);

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _ids.Count;
            }
        }
    }

    /// <summary>When the first one was found.</summary>
    public DateTimeOffset? FirstSeen { get; private set; }

    public void Add(QueueId id)
    {
        lock (_gate)
        {
            _ids.Add(id.Value);
            FirstSeen ??= clock.GetUtcNow();
        }
    }
}
