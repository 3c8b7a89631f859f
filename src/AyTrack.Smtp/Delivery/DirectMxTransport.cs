using System.Net;
using AyTrack.Core.Addresses;
using AyTrack.Core.Configuration;
using AyTrack.Core.Delivery;
using AyTrack.Core.MtaSts;
using AyTrack.Core.Shaping;
using AyTrack.Smtp.Dns;
using AyTrack.Smtp.MtaSts;
using AyTrack.Smtp.Logging;
using AyTrack.Core.Spool;
using Microsoft.Extensions.Logging;

namespace AyTrack.Smtp.Delivery;

/// <summary>
/// Delivers a batch of messages for one recipient domain straight to its MX hosts (RFC 5321 §5.1): hosts in MX
/// order, every address of a host before the next host, one session for as many messages as it will take,
/// opportunistic STARTTLS (RFC 7435) — unless the domain has an enforced MTA-STS policy (RFC 8461 §5): then only its
/// MX hosts, only over STARTTLS with a certificate valid for the host, and a deferral otherwise, never plain text.
/// Returns a result for every recipient it was given.
/// </summary>
public sealed class DirectMxTransport(
    MxResolver resolver,
    ISpool spool,
    DeliveryOptions options,
    DeliveryLog deliveryLog,
    string heloName,
    ILogger<DirectMxTransport> logger,
    UnreadableMessages? unreadable = null,
    MtaStsPolicies? mtaSts = null,
    OutboundTrust? trust = null,
    EgressSources? egress = null,
    LiveShaping? shaping = null) : IDeliveryTransport
{
    private readonly EgressSources _egress = egress ?? EgressSources.None(heloName);
    private readonly NetworkList _allowed = options.AllowedDestinationList;
    private readonly SessionDelivery _session = new(spool, deliveryLog, logger, "direct", unreadable);
    private readonly OutboundTrust _trust = trust ?? OutboundTrust.SystemOnly;

    public Task<IReadOnlyList<MessageAttempt>> DeliverAsync(RecipientDomain domain, IReadOnlyList<BatchItem> items, SiteLease? lease,
        CancellationToken cancellationToken) =>
        SenderPools.DeliverAsync(spool, shaping, items, lease,
            (group, pool, mayPark) => DeliverGroupAsync(domain, group, lease, pool, mayPark, cancellationToken), cancellationToken);

    /// <param name="pool">The egress pool of this group's sessions.</param>
    /// <param name="mayPark">Whether its last session may be parked in the lease (only one session holds the lease's slot).</param>
    private async Task<IReadOnlyList<MessageAttempt>> DeliverGroupAsync(RecipientDomain domain, IReadOnlyList<BatchItem> items, SiteLease? lease,
        string? pool, bool mayPark, CancellationToken cancellationToken)
    {
        var results = new List<MessageAttempt>(items.Count);
        var remaining = new Queue<BatchItem>(items);

        var mx = await resolver.ResolveMxAsync(domain, cancellationToken);
        if (mx is LookupResult<MxRoute>.Failed dnsFailure)
        {
            SessionDelivery.FailAll(remaining, dnsFailure.Reply, FailureClassification.Classify(dnsFailure.Reply), null, null, results);
            return _session.Logged(results, items, lease);
        }

        var route = (MxRoute.Hosts)((LookupResult<MxRoute>.Found)mx).Value;
        var sts = new StsAttempt(mtaSts is null ? null : await mtaSts.PolicyForAsync(domain, cancellationToken), domain);
        var source = _egress.Choose(pool);
        var parkIn = mayPark ? lease : null;
        // A session of the site kept open after an earlier batch is used when it is what this batch would open.
        await _session.ReuseIdleAsync(lease, idle => idle.Key == SessionKey(idle.Host, idle.Ip, source, sts.Enforced)
            && route.Names.Contains(idle.Host, StringComparer.OrdinalIgnoreCase)
            && (sts.Policy is not { } stsPolicy || !sts.Enforced || stsPolicy.MatchesMx(idle.Host)), remaining, results, parkIn, cancellationToken);
        if (remaining.Count == 0)
        {
            return _session.Logged(results, items, lease, sts.Note());
        }

        SmtpReply lastError = new(451, "4.4.1", $"No MX host of {domain} could be reached");
        foreach (var host in route.Names)
        {
            if (sts.Policy is { } policy && !policy.MatchesMx(host))
            {
                var reason = $"{host} is not an MX host of the MTA-STS policy of {domain} (mx {string.Join(", ", policy.Mx)})";
                if (sts.Enforced)
                {
                    lastError = new SmtpReply(451, "4.7.5", reason + "; not contacted");
                    logger.LogWarning("MTA-STS: {Reason}; not contacted", reason);
                    continue;
                }

                sts.WouldRefuse(reason);
            }

            var addresses = await resolver.ResolveAddressesAsync(host, cancellationToken);
            if (addresses is LookupResult<IReadOnlyList<IPAddress>>.Failed addressFailure)
            {
                // An implicit MX that does not resolve means the domain has no mail server at all (a permanent
                // failure); a listed MX host that does not resolve is just unreachable, so the next one is tried.
                if (route.Implicit && FailureClassification.Classify(addressFailure.Reply) == RecipientOutcome.Failed)
                {
                    SessionDelivery.FailAll(remaining, addressFailure.Reply, RecipientOutcome.Failed, host, null, results);
                    return _session.Logged(results, items, lease);
                }

                lastError = addressFailure.Reply with { Code = 451, Enhanced = "4.4.3" };
                continue;
            }

            foreach (var ip in ((LookupResult<IReadOnlyList<IPAddress>>.Found)addresses).Value)
            {
                if (remaining.Count == 0)
                {
                    break;
                }

                if (!_allowed.Contains(ip))
                {
                    lastError = new SmtpReply(451, "4.4.1", $"{host} [{ip}] is outside AyTrack:Delivery:AllowedDestinations; not contacted");
                    logger.LogWarning("Not contacting {Host} [{Ip}]: outside AyTrack:Delivery:AllowedDestinations", host, ip);
                    continue;
                }

                var error = await DeliverToAddressAsync(host, ip, remaining, results, sts, source, lease, parkIn, cancellationToken);
                if (error is not null)
                {
                    lastError = error;
                }
            }

            if (remaining.Count == 0)
            {
                break;
            }
        }

        // Nothing could take the rest: connection-level failures are temporary whatever code the last host gave.
        SessionDelivery.FailAll(remaining, lastError, RecipientOutcome.Deferred, null, null, results);
        return _session.Logged(results, items, lease, sts.Note());
    }

    /// <summary>What a session is, for reuse: a batch takes an idle session only if it would have opened the same one.</summary>
    private string SessionKey(string host, string ip, EgressSource source, bool enforced) =>
        $"direct|{host.ToLowerInvariant()}|{ip}|{options.MxPort}|{source.Name}|{(enforced ? "mta-sts" : "opportunistic")}";

    /// <summary>
    /// Runs sessions against one address until the batch is sent, each carrying at most messagesPerConnection
    /// messages (the last one may be parked for the site's next batch); returns why it stopped early, or null.
    /// </summary>
    private async Task<SmtpReply?> DeliverToAddressAsync(string host, IPAddress ip, Queue<BatchItem> remaining, List<MessageAttempt> results,
        StsAttempt sts, EgressSource source, SiteLease? lease, SiteLease? parkIn, CancellationToken cancellationToken)
    {
        while (remaining.Count > 0)
        {
            var (client, failure) = sts.Enforced
                ? await OpenEnforcedAsync(host, ip, sts, source, cancellationToken)
                : await OpenOpportunisticAsync(host, ip, sts, source, cancellationToken);
            if (client is null)
            {
                return failure;
            }

            var session = new PooledSmtpSession(client, SessionKey(host, ip.ToString(), source, sts.Enforced), host, ip.ToString());
            var error = await _session.UseAsync(session, remaining, results, lease, parkIn, cancellationToken);
            if (error is not null)
            {
                return error;
            }
        }

        return null;
    }

    /// <summary>Opens an opportunistic session (RFC 7435): STARTTLS when offered, any certificate, plain text if TLS fails.</summary>
    private async Task<(OutboundSmtpClient? Client, SmtpReply? Failure)> OpenOpportunisticAsync(string host, IPAddress ip, StsAttempt sts,
        EgressSource source, CancellationToken cancellationToken)
    {
        OutboundSmtpClient client;
        string? certificateProblem = null;
        try
        {
            client = await SessionDelivery.OpenAsync(host, ip, options.MxPort, OutboundTls.WhenOffered, (_, certificate, _, errors) =>
            {
                // Opportunistic: any certificate is accepted; a testing policy notes the ones enforce would refuse.
                certificateProblem = sts.Policy is null ? null : _trust.Problem(host, certificate, errors);
                return true;
            }, options, source.EhloName, cancellationToken, source.BindAddress);
        }
        catch (SmtpTlsException tlsError)
        {
            sts.WouldRefuse($"TLS with {host} [{ip}] failed: {tlsError.Message}");
            // Opportunistic TLS (RFC 7435 §6, Postfix "may"): a failed handshake falls back to plain text.
            logger.LogInformation("STARTTLS with {Host} [{Ip}] failed ({Error}); retrying in plain text", host, ip, tlsError.Message);
            try
            {
                client = await SessionDelivery.OpenAsync(host, ip, options.MxPort, OutboundTls.None, (_, _, _, _) => true, options,
                    source.EhloName, cancellationToken, source.BindAddress);
            }
            catch (Exception error) when (SessionDelivery.IsConnectionFailure(error))
            {
                return (null, ConnectionError(host, ip, error));
            }
        }
        catch (Exception error) when (SessionDelivery.IsConnectionFailure(error))
        {
            return (null, ConnectionError(host, ip, error));
        }

        if (sts.Policy is not null)
        {
            if (!client.IsSecure)
            {
                sts.WouldRefuse($"{host} [{ip}] does not offer STARTTLS");
            }
            else if (certificateProblem is not null)
            {
                sts.WouldRefuse(certificateProblem);
            }
        }

        return (client, null);
    }

    /// <summary>
    /// RFC 8461 §5: a host of an enforced policy only over STARTTLS, with a certificate valid for its name (system
    /// trust or AyTrack:Delivery:TrustedCaPath). Any failure defers (the next host is tried); nothing goes in clear.
    /// </summary>
    private async Task<(OutboundSmtpClient? Client, SmtpReply? Failure)> OpenEnforcedAsync(string host, IPAddress ip, StsAttempt sts,
        EgressSource source, CancellationToken cancellationToken)
    {
        string? certificateProblem = null;
        try
        {
            var client = await SessionDelivery.OpenAsync(host, ip, options.MxPort, OutboundTls.StartTls, (_, certificate, _, errors) =>
            {
                certificateProblem = _trust.Problem(host, certificate, errors);
                return certificateProblem is null;
            }, options, source.EhloName, cancellationToken, source.BindAddress);
            return (client, null);
        }
        catch (StartTlsUnavailableException)
        {
            logger.LogWarning("MTA-STS: {Host} [{Ip}] does not offer STARTTLS, which the enforced policy of {Domain} requires", host, ip, sts.Domain);
            return (null, new SmtpReply(451, "4.7.5", $"{host} [{ip}] does not offer STARTTLS, which the MTA-STS policy of {sts.Domain} requires; nothing was sent in clear"));
        }
        catch (SmtpTlsException error)
        {
            var reason = certificateProblem ?? $"TLS with {host} [{ip}] failed: {error.Message}";
            logger.LogWarning("MTA-STS: {Reason}; the enforced policy of {Domain} defers delivery", reason, sts.Domain);
            return (null, new SmtpReply(451, "4.7.5", $"MTA-STS policy of {sts.Domain}: {reason}; nothing was sent in clear"));
        }
        catch (Exception error) when (SessionDelivery.IsConnectionFailure(error))
        {
            return (null, ConnectionError(host, ip, error));
        }
    }

    /// <summary>The MTA-STS policy of one delivery attempt and, under a testing policy, what enforce would have refused.</summary>
    private sealed class StsAttempt(MtaStsPolicy? policy, RecipientDomain domain)
    {
        private readonly List<string> _wouldRefuse = [];

        public MtaStsPolicy? Policy { get; } = policy;

        public RecipientDomain Domain { get; } = domain;

        public bool Enforced => Policy?.Mode == MtaStsMode.Enforce;

        public void WouldRefuse(string reason)
        {
            if (Policy?.Mode == MtaStsMode.Testing)
            {
                _wouldRefuse.Add(reason);
            }
        }

        /// <summary>The delivery log's mtaSts field: the policy followed, and under testing what enforce would have refused.</summary>
        public string? Note() => Policy?.Mode switch
        {
            MtaStsMode.Enforce => $"enforce (policy {Policy.Id})",
            MtaStsMode.Testing when _wouldRefuse.Count > 0 => $"testing (policy {Policy.Id}); enforce would refuse: {string.Join("; ", _wouldRefuse)}",
            MtaStsMode.Testing => $"testing (policy {Policy.Id})",
            _ => null,
        };
    }

    private SmtpReply ConnectionError(string host, IPAddress ip, Exception error)
    {
        logger.LogInformation("Could not open a session with {Host} [{Ip}]: {Error}", host, ip, error.Message);
        return error switch
        {
            SmtpReplyException refused => SmtpReply.From(refused.Reply.Code, $"{host} [{ip}] said: {refused.Reply.Text}"),
            OperationCanceledException or TimeoutException => new SmtpReply(451, "4.4.2", $"Timed out connecting to {host} [{ip}]"),
            _ => new SmtpReply(451, "4.4.1", $"Connection to {host} [{ip}] failed: {error.Message}"),
        };
    }
}
