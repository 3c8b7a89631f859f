using AyTrack.Core.Addresses;
using AyTrack.Core.Delivery;
using AyTrack.Core.Settings;
using AyTrack.Core.Shaping;
using AyTrack.Smtp.Dns;

namespace AyTrack.Smtp.Delivery;

/// <summary>
/// A domain's site, found before a session is given out: in relay mode the external server (one site, limited by
/// relay.maxConnections), otherwise the domain's MX host set from the resolver (cached by TTL, so this lookup and the
/// session's own cost one query). A domain whose lookup fails is a site of its own, and its session reports the failure.
/// </summary>
public sealed class SiteRouter(MxResolver resolver, LiveSettings live, LiveShaping shaping) : ISiteRouter
{
    public async Task<SiteShaping> ShapingForAsync(RecipientDomain domain, CancellationToken cancellationToken)
    {
        var settings = live.Current.Settings;
        if (settings.Mode == DeliveryMode.RelayAll && settings.Relay.Host.Trim().Length > 0)
        {
            var host = settings.Relay.Host.Trim().ToLowerInvariant();
            var relay = shaping.For(domain.Value, [host], RelaySite(host, settings.Relay.Port));
            // relay.maxConnections is the external server's limit, whatever the rules say about its name.
            return relay with { ConnectionLimit = Math.Max(1, settings.Relay.MaxConnections), ClusterWide = false };
        }

        var mx = await resolver.ResolveMxAsync(domain, cancellationToken);
        var hosts = mx is LookupResult<MxRoute>.Found { Value: MxRoute.Hosts found } ? found.Names : [];
        return shaping.For(domain.Value, hosts);
    }

    public static string RelaySite(string host, int port) => $"relay:{host}:{port}";
}
