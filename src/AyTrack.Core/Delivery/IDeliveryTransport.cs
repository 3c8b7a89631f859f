using AyTrack.Core.Addresses;

namespace AyTrack.Core.Delivery;

/// <summary>
/// One way of delivering a batch of one domain's messages: direct to MX, through the external relay, or direct then
/// the relay. Every recipient given gets exactly one result, so retry logic above it is written once.
/// </summary>
public interface IDeliveryTransport
{
    Task<IReadOnlyList<MessageAttempt>> DeliverAsync(RecipientDomain domain, IReadOnlyList<BatchItem> items, CancellationToken cancellationToken);
}
