using System.Net;
using AyTrack.Core.Addresses;
using AyTrack.Core.Configuration;
using AyTrack.Core.Delivery;
using DnsClient;
using DnsClient.Protocol;

namespace AyTrack.Smtp.Dns;

/// <summary>What a lookup produced: a route, or a reply that says why there is none.</summary>
public abstract record LookupResult<T>
{
    private LookupResult() { }

    public sealed record Found(T Value) : LookupResult<T>;

    /// <summary>
    /// A synthesised reply: 5.1.2/5.1.10 for answers that will not change (NXDOMAIN, null MX), 4.4.3 for DNS
    /// failures that may (SERVFAIL, timeouts) — RFC 3463 §3.5.
    /// </summary>
    public sealed record Failed(SmtpReply Reply) : LookupResult<T>;
}

/// <summary>
/// MX and address lookups for direct delivery (RFC 5321 §5.1), through DnsClient with its cache on: answers are kept
/// for their TTL, so a busy domain costs one query per TTL, not one per message.
/// </summary>
public sealed class MxResolver
{
    private static readonly TimeSpan DefaultNegativeTtl = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan MaxNegativeTtl = TimeSpan.FromHours(1);

    private readonly ILookupClient _client;
    private readonly TimeProvider _clock;

    // DnsClient caches answers for their TTL but not empty ones; without this an IPv4-only MX would cost an AAAA query
    // per session. RFC 2308 §5: a NODATA answer is cached for the SOA's minimum (capped), as resolvers do.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string, QueryType), (DateTimeOffset Until, IDnsQueryResponse Response)> _negative = new();

    public MxResolver(DnsOptions options, TimeProvider? clock = null)
    {
        _clock = clock ?? TimeProvider.System;
        var servers = (options.Servers ?? []).Where(s => !string.IsNullOrWhiteSpace(s)).Select(ParseServer).ToArray();
        var lookupOptions = servers.Length > 0 ? new LookupClientOptions(servers) : new LookupClientOptions();
        lookupOptions.UseCache = true;
        lookupOptions.Timeout = options.Timeout;
        lookupOptions.Retries = 2;
        lookupOptions.ThrowDnsErrors = false;
        lookupOptions.UseTcpFallback = true;
        lookupOptions.ContinueOnDnsError = false;
        _client = new LookupClient(lookupOptions);
    }

    public static NameServer ParseServer(string text)
    {
        if (IPEndPoint.TryParse(text.Trim(), out var endpoint))
        {
            return new NameServer(endpoint.Address, endpoint.Port == 0 ? 53 : endpoint.Port);
        }

        throw new FormatException($"AyTrack:Dns:Servers: '{text}' is not an address or address:port such as 127.0.0.1:5353");
    }

    public async Task<LookupResult<MxRoute>> ResolveMxAsync(RecipientDomain domain, CancellationToken cancellationToken)
    {
        var response = await QueryAsync(domain.Value, QueryType.MX, cancellationToken);
        if (response is LookupResult<IDnsQueryResponse>.Failed failed)
        {
            return new LookupResult<MxRoute>.Failed(failed.Reply);
        }

        var answer = ((LookupResult<IDnsQueryResponse>.Found)response).Value;
        if (answer.Header.ResponseCode == DnsHeaderResponseCode.NotExistentDomain)
        {
            return new LookupResult<MxRoute>.Failed(new SmtpReply(550, "5.1.2", $"Domain {domain} does not exist (DNS NXDOMAIN)"));
        }

        var records = answer.Answers.MxRecords().Select(r => new AyTrack.Core.Delivery.MxRecord(r.Preference, r.Exchange.Value)).ToList();
        var route = MxOrdering.Order(domain.Value, records, Random.Shared);
        if (route is MxRoute.NullMx)
        {
            return new LookupResult<MxRoute>.Failed(new SmtpReply(556, "5.1.10", $"Domain {domain} accepts no mail (null MX, RFC 7505)"));
        }

        return new LookupResult<MxRoute>.Found(route);
    }

    /// <summary>IPv4 then IPv6 addresses of a host; an empty list when the name has none.</summary>
    public async Task<LookupResult<IReadOnlyList<IPAddress>>> ResolveAddressesAsync(string host, CancellationToken cancellationToken)
    {
        if (IPAddress.TryParse(host, out var literal))
        {
            return new LookupResult<IReadOnlyList<IPAddress>>.Found([literal]);
        }

        var addresses = new List<IPAddress>();
        SmtpReply? lastFailure = null;
        var nxdomain = false;
        foreach (var type in new[] { QueryType.A, QueryType.AAAA })
        {
            var response = await QueryAsync(host, type, cancellationToken);
            switch (response)
            {
                case LookupResult<IDnsQueryResponse>.Failed f:
                    lastFailure = f.Reply;
                    break;
                case LookupResult<IDnsQueryResponse>.Found { Value: var answer }:
                    nxdomain |= answer.Header.ResponseCode == DnsHeaderResponseCode.NotExistentDomain;
                    addresses.AddRange(answer.Answers.OfType<AddressRecord>().Select(r => r.Address));
                    break;
            }
        }

        if (addresses.Count > 0)
        {
            return new LookupResult<IReadOnlyList<IPAddress>>.Found(addresses);
        }

        if (lastFailure is not null)
        {
            return new LookupResult<IReadOnlyList<IPAddress>>.Failed(lastFailure);
        }

        return new LookupResult<IReadOnlyList<IPAddress>>.Failed(nxdomain
            ? new SmtpReply(550, "5.1.2", $"Host {host} does not exist (DNS NXDOMAIN)")
            : new SmtpReply(550, "5.1.2", $"Host {host} has no A or AAAA record"));
    }

    /// <summary>SRV records of a service name (RFC 2782), by priority; a single "." target means "no such service" (RFC 6186 §3).</summary>
    public async Task<IReadOnlyList<(int Priority, int Weight, int Port, string Target)>> ResolveSrvAsync(string name, CancellationToken cancellationToken)
    {
        if (await QueryAsync(name, QueryType.SRV, cancellationToken) is not LookupResult<IDnsQueryResponse>.Found { Value: var answer })
        {
            return [];
        }

        return answer.Answers.SrvRecords()
            .Select(r => ((int)r.Priority, (int)r.Weight, (int)r.Port, r.Target.Value.TrimEnd('.')))
            .Where(r => r.Item4.Length > 0)
            .OrderBy(r => r.Item1)
            .ThenByDescending(r => r.Item2)
            .ToList();
    }

    /// <summary>
    /// The TXT records at <paramref name="name"/>, each record's strings joined (RFC 7208 §3.3, RFC 6376 §3.6.2.2);
    /// empty when there are none, null when the lookup failed.
    /// </summary>
    public async Task<IReadOnlyList<string>?> ResolveTxtAsync(string name, CancellationToken cancellationToken) =>
        await QueryAsync(name, QueryType.TXT, cancellationToken) is LookupResult<IDnsQueryResponse>.Found { Value: var answer }
            ? answer.Answers.TxtRecords().Select(r => string.Concat(r.Text)).ToList()
            : null;

    private async Task<LookupResult<IDnsQueryResponse>> QueryAsync(string name, QueryType type, CancellationToken cancellationToken)
    {
        var key = (name.ToLowerInvariant(), type);
        if (_negative.TryGetValue(key, out var cached) && cached.Until > _clock.GetUtcNow())
        {
            return new LookupResult<IDnsQueryResponse>.Found(cached.Response);
        }

        try
        {
            var response = await _client.QueryAsync(name, type, QueryClass.IN, cancellationToken);
            var code = response.Header.ResponseCode;
            if (code is DnsHeaderResponseCode.NoError or DnsHeaderResponseCode.NotExistentDomain)
            {
                if (response.Answers.Count == 0)
                {
                    var soa = response.Authorities.SoaRecords().FirstOrDefault();
                    var ttl = soa is null ? DefaultNegativeTtl : TimeSpan.FromSeconds(Math.Min(soa.Minimum, soa.InitialTimeToLive));
                    _negative[key] = (_clock.GetUtcNow() + (ttl > MaxNegativeTtl ? MaxNegativeTtl : ttl), response);
                }

                return new LookupResult<IDnsQueryResponse>.Found(response);
            }

            return new LookupResult<IDnsQueryResponse>.Failed(new SmtpReply(451, "4.4.3", $"DNS {type} lookup for {name} failed: {code}"));
        }
        catch (DnsResponseException error)
        {
            return new LookupResult<IDnsQueryResponse>.Failed(new SmtpReply(451, "4.4.3", $"DNS {type} lookup for {name} failed: {error.Code}"));
        }
    }
}
