using AyTrack.Core.Addresses;
using AyTrack.Core.Delivery;

namespace AyTrack.Smtp.Delivery;

/// <summary>
/// One way of delivering a batch of one domain's messages (direct to MX; the external relay later). Every
/// recipient given gets exactly one result, so retry logic above it is written once.
/// </summary>
public interface IDeliveryTransport
{
    Task<IReadOnlyList<MessageAttempt>> DeliverAsync(RecipientDomain domain, IReadOnlyList<BatchItem> items, CancellationToken cancellationToken);
}
