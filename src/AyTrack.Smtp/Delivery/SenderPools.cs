using AyTrack.Core.Delivery;
using AyTrack.Core.Shaping;
using AyTrack.Core.Spool;

namespace AyTrack.Smtp.Delivery;

/// <summary>
/// Egress pools chosen by sending domain (a rules entry with <c>match: { senderDomain: … }</c>): a batch whose
/// messages come from senders of different pools is sent as one group per pool, one after the other within the
/// batch's site slot. Only the senders are read from the spool for this (no bodies), and only when some entry needs them.
/// </summary>
internal static class SenderPools
{
    /// <param name="deliver">Sends one group: its items, the pool, and whether its session may be parked (the last group only).</param>
    public static async Task<IReadOnlyList<MessageAttempt>> DeliverAsync(ISpool spool, LiveShaping? shaping, IReadOnlyList<BatchItem> items,
        SiteLease? lease, Func<IReadOnlyList<BatchItem>, string?, bool, Task<IReadOnlyList<MessageAttempt>>> deliver, CancellationToken cancellationToken)
    {
        var destinationPool = lease?.Shaping.Pool;
        if (shaping?.Rules is not { HasSenderPools: true } rules || items.Count == 0)
        {
            return await deliver(items, destinationPool, true);
        }

        var senders = await spool.LoadSendersAsync(items.Select(i => i.Id).ToList(), cancellationToken);
        var groups = items
            .GroupBy(i => senders.TryGetValue(i.Id.Value, out var sender) && sender.LastIndexOf('@') is var at and > 0
                ? rules.PoolForSender(sender[(at + 1)..]) ?? destinationPool
                : destinationPool)
            .ToList();
        var results = new List<MessageAttempt>(items.Count);
        for (var i = 0; i < groups.Count; i++)
        {
            results.AddRange(await deliver(groups[i].ToList(), groups[i].Key, i == groups.Count - 1));
        }

        return results;
    }
}
