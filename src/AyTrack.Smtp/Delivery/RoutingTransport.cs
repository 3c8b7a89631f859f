using AyTrack.Core.Addresses;
using AyTrack.Core.Delivery;
using AyTrack.Core.Settings;
using AyTrack.Core.Shaping;

namespace AyTrack.Smtp.Delivery;

/// <summary>
/// Chooses the way for each attempt from the current mode (so a change acts on the next attempt): Direct to the MX
/// hosts, RelayAll through the external server, DirectThenRelay direct first and, in the same attempt, the relay for
/// whatever <see cref="RelayFallback"/> says it can fix. Queues stay per recipient domain in every mode.
/// </summary>
public sealed class RoutingTransport(LiveSettings live, DirectMxTransport direct, RelayTransport relay) : IDeliveryTransport
{
    public async Task<IReadOnlyList<MessageAttempt>> DeliverAsync(RecipientDomain domain, IReadOnlyList<BatchItem> items, SiteLease? lease,
        CancellationToken cancellationToken)
    {
        switch (live.Current.Settings.Mode)
        {
            case DeliveryMode.RelayAll:
                return await relay.DeliverAsync(domain, items, lease, cancellationToken);
            case DeliveryMode.DirectThenRelay:
                break;
            default:
                return await direct.DeliverAsync(domain, items, lease, cancellationToken);
        }

        // The lease is the MX site's; the relay leg takes a slot of the relay transport's own (relay.maxConnections).
        var first = await direct.DeliverAsync(domain, items, lease, cancellationToken);
        var second = first
            .Select(a => new BatchItem(a.Id, a.Results.Where(RelayFallback.ShouldRelay).Select(r => r.Recipient).ToList(),
                items.FirstOrDefault(i => i.Id == a.Id)?.Attempt ?? 1))
            .Where(i => i.Recipients.Count > 0)
            .ToList();
        if (second.Count == 0)
        {
            return first;
        }

        // Both legs are in the delivery log; the attempt's result for a relayed recipient is the relay's.
        var relayed = (await relay.DeliverAsync(domain, second, null, cancellationToken)).ToDictionary(a => a.Id.Value);
        return first.Select(a =>
        {
            if (!relayed.TryGetValue(a.Id.Value, out var viaRelay))
            {
                return a;
            }

            var byRecipient = viaRelay.Results.ToDictionary(r => r.Recipient, StringComparer.OrdinalIgnoreCase);
            return viaRelay with
            {
                Results = a.Results.Select(r => byRecipient.GetValueOrDefault(r.Recipient, r)).ToList(),
            };
        }).ToList();
    }
}
