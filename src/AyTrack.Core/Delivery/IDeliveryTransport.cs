using AyTrack.Core.Addresses;

namespace AyTrack.Core.Delivery;

/// <summary>
/// One way of delivering a batch of one domain's messages: direct to MX, through the external relay, or direct then
/// the relay. Every recipient given gets exactly one result, so retry logic above it is written once.
/// </summary>
public interface IDeliveryTransport
{
    /// <param name="lease">
    /// The site's delivery slot the domain actor took for this batch (null: no site shaping). The transport may take
    /// over its idle session, and park its own session in it when the batch is done; the worker releases it after.
    /// </param>
    Task<IReadOnlyList<MessageAttempt>> DeliverAsync(RecipientDomain domain, IReadOnlyList<BatchItem> items, AyTrack.Core.Shaping.SiteLease? lease,
        CancellationToken cancellationToken);
}
