using AyTrack.Core.Delivery;

namespace AyTrack.Core.Domains;

/// <summary>
/// The batches of one domain handed to SMTP workers and not yet answered. A batch stays here until its results are
/// applied: a look at the queue in between would otherwise see its messages as pending and send them twice.
/// </summary>
public sealed class InFlightBatches
{
    private readonly Dictionary<Guid, IReadOnlyList<BatchItem>> _batches = [];

    /// <summary>Sessions running for this domain.</summary>
    public int Count => _batches.Count;

    public void Add(Guid batchId, IReadOnlyList<BatchItem> items) => _batches[batchId] = items;

    public bool Contains(Guid batchId) => _batches.ContainsKey(batchId);

    public bool TryGet(Guid batchId, out IReadOnlyList<BatchItem> items) => _batches.TryGetValue(batchId, out items!);

    public void Remove(Guid batchId) => _batches.Remove(batchId);

    /// <summary>The queue ids of every message in flight, to leave out of the next batch and of expiry.</summary>
    public HashSet<string> MessageIds() => _batches.Values.SelectMany(items => items.Select(i => i.Id.Value)).ToHashSet(StringComparer.Ordinal);
}
