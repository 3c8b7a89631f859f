using AyTrack.Core.Delivery;

namespace AyTrack.Core.Domains;

/// <summary>
/// The batches of one domain handed to SMTP workers and not yet answered. A batch stays here until its results are
/// applied: a look at the queue in between would otherwise see its messages as pending and send them twice.
/// </summary>
public sealed class InFlightBatches
{
    private readonly Dictionary<Guid, IReadOnlyList<BatchItem>> _batches = [];
    private readonly HashSet<string> _ids = new(StringComparer.Ordinal);

    /// <summary>Sessions running for this domain.</summary>
    public int Count => _batches.Count;

    /// <summary>
    /// The queue ids of every message in flight, to leave out of the next batch and of expiry: kept as batches come
    /// and go (a message is in at most one batch), not rebuilt at every look at the queue.
    /// </summary>
    public IReadOnlySet<string> MessageIds => _ids;

    public void Add(Guid batchId, IReadOnlyList<BatchItem> items)
    {
        _batches[batchId] = items;
        foreach (var item in items)
        {
            _ids.Add(item.Id.Value);
        }
    }

    public bool Contains(Guid batchId) => _batches.ContainsKey(batchId);

    public bool TryGet(Guid batchId, out IReadOnlyList<BatchItem> items) => _batches.TryGetValue(batchId, out items!);

    public void Remove(Guid batchId)
    {
        if (_batches.Remove(batchId, out var items))
        {
            foreach (var item in items)
            {
                _ids.Remove(item.Id.Value);
            }
        }
    }
}
