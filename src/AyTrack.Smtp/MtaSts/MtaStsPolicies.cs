using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using AyTrack.Core.Addresses;
using AyTrack.Core.Configuration;
using AyTrack.Core.MtaSts;
using AyTrack.Smtp.Dns;
using Microsoft.Extensions.Logging;

namespace AyTrack.Smtp.MtaSts;

/// <summary>
/// The MTA-STS policy in force for a recipient domain (RFC 8461): the <c>_mta-sts</c> TXT record's id through the
/// node's own resolver, the policy from <c>https://mta-sts.&lt;domain&gt;/.well-known/mta-sts.txt</c> when the id is
/// new (full certificate validation, no redirects, at most 64 KB, a bounded time), and the cache otherwise.
/// </summary>
public sealed class MtaStsPolicies(
    MxResolver resolver,
    MtaStsPolicyCache cache,
    Func<HttpClient> httpClient,
    MtaStsOptions options,
    TimeProvider clock,
    ILogger<MtaStsPolicies> logger)
{
    public const string HttpClientName = "mta-sts";
    public const int MaxPolicySize = 64 * 1024;

    private readonly ConcurrentDictionary<string, Task<MtaStsPolicy?>> _fetching = new(StringComparer.Ordinal);

    /// <summary>The policy to apply to a delivery to <paramref name="domain"/>, or null (none, or MTA-STS off).</summary>
    public async Task<MtaStsPolicy?> PolicyForAsync(RecipientDomain domain, CancellationToken cancellationToken)
    {
        if (!options.Enabled)
        {
            return null;
        }

        var records = await resolver.ResolveTxtAsync($"_mta-sts.{domain.Value}", cancellationToken);
        var id = records is null ? null : MtaStsRecord.FindId(records);
        var cached = cache.Get(domain.Value);
        var now = clock.GetUtcNow();
        if (!MtaStsRules.NeedsFetch(id, cached, now))
        {
            return MtaStsRules.InForce(cached, null, now);
        }

        // One fetch per domain at a time: a batch of sessions to a new domain shares it.
        var fetch = _fetching.GetOrAdd(domain.Value, _ => FetchAndStoreAsync(domain.Value, id!, cached));
        try
        {
            return await fetch.WaitAsync(cancellationToken);
        }
        finally
        {
            _fetching.TryRemove(new KeyValuePair<string, Task<MtaStsPolicy?>>(domain.Value, fetch));
        }
    }

    private async Task<MtaStsPolicy?> FetchAndStoreAsync(string domain, string id, MtaStsPolicy? cached)
    {
        var fetched = await FetchAsync(domain, id);
        var now = clock.GetUtcNow();
        var inForce = MtaStsRules.InForce(cached, fetched, now);
        if (fetched is not null)
        {
            logger.LogInformation("MTA-STS policy {Id} of {Domain}: {Mode}, mx {Mx}, max_age {MaxAge} s", id, domain,
                fetched.Mode.ToString().ToLowerInvariant(), string.Join(", ", fetched.Mx), fetched.MaxAgeSeconds);
            cache.Set(domain, inForce, now);
        }

        return inForce;
    }

    private async Task<MtaStsPolicy?> FetchAsync(string domain, string id)
    {
        var port = options.PolicyPort == 443 ? string.Empty : $":{options.PolicyPort}";
        var uri = new Uri($"https://mta-sts.{domain}{port}/.well-known/mta-sts.txt");
        using var timeout = new CancellationTokenSource(options.FetchTimeout);
        try
        {
            using var response = await httpClient().GetAsync(uri, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            // RFC 8461 §3.3: redirects are not followed, and only a 200 with text/plain is a policy.
            if (response.StatusCode != HttpStatusCode.OK)
            {
                return Failed(domain, uri, $"HTTP {(int)response.StatusCode}");
            }

            if (!string.Equals(response.Content.Headers.ContentType?.MediaType, "text/plain", StringComparison.OrdinalIgnoreCase))
            {
                return Failed(domain, uri, $"Content-Type {response.Content.Headers.ContentType?.MediaType ?? "none"}, not text/plain");
            }

            if (response.Content.Headers.ContentLength > MaxPolicySize)
            {
                return Failed(domain, uri, $"{response.Content.Headers.ContentLength} bytes, more than {MaxPolicySize}");
            }

            await using var body = await response.Content.ReadAsStreamAsync(timeout.Token);
            var buffer = new byte[MaxPolicySize + 1];
            var length = 0;
            int read;
            while (length < buffer.Length && (read = await body.ReadAsync(buffer.AsMemory(length), timeout.Token)) > 0)
            {
                length += read;
            }

            if (length > MaxPolicySize)
            {
                return Failed(domain, uri, $"more than {MaxPolicySize} bytes");
            }

            var text = System.Text.Encoding.UTF8.GetString(buffer, 0, length);
            return MtaStsPolicy.TryParse(text, id, clock.GetUtcNow(), out var policy, out var error) ? policy : Failed(domain, uri, error);
        }
        catch (OperationCanceledException)
        {
            return Failed(domain, uri, $"no answer within {options.FetchTimeout.TotalSeconds:0} s");
        }
        catch (HttpRequestException error)
        {
            return Failed(domain, uri, error.InnerException?.Message ?? error.Message);
        }
    }

    private MtaStsPolicy? Failed(string domain, Uri uri, string reason)
    {
        logger.LogWarning("MTA-STS policy of {Domain} not fetched from {Uri}: {Reason}; the cached policy, if any, stays in force",
            domain, uri, reason);
        return null;
    }

    /// <summary>
    /// The HTTP handler for policy fetches: host names resolved through AyTrack:Dns:Servers like every other lookup,
    /// only to AyTrack:Delivery:AllowedDestinations, certificates validated for the host, no redirects, no proxy.
    /// </summary>
    public static SocketsHttpHandler CreateHandler(MxResolver resolver, NetworkList allowed, OutboundTrust trust) => new()
    {
        AllowAutoRedirect = false,
        UseProxy = false,
        UseCookies = false,
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        SslOptions = new SslClientAuthenticationOptions
        {
            RemoteCertificateValidationCallback = (sender, certificate, _, errors) =>
                trust.Problem(sender is SslStream { TargetHostName: { } host } ? host : string.Empty, certificate, errors) is null,
        },
        ConnectCallback = async (context, cancellationToken) =>
        {
            var host = context.DnsEndPoint.Host;
            if (await resolver.ResolveAddressesAsync(host, cancellationToken) is not LookupResult<IReadOnlyList<IPAddress>>.Found { Value: var addresses })
            {
                throw new HttpRequestException($"{host} does not resolve");
            }

            Exception? last = null;
            foreach (var address in addresses.Where(allowed.Contains))
            {
                var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    await socket.ConnectAsync(new IPEndPoint(address, context.DnsEndPoint.Port), cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch (SocketException error)
                {
                    socket.Dispose();
                    last = error;
                }
            }

            throw new HttpRequestException(last is null ? $"{host} has no address in AyTrack:Delivery:AllowedDestinations" : $"{host}: {last.Message}", last);
        },
    };
}
