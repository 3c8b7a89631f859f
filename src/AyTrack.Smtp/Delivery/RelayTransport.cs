using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using AyTrack.Core.Addresses;
using AyTrack.Core.Configuration;
using AyTrack.Core.Delivery;
using AyTrack.Core.Settings;
using AyTrack.Core.Shaping;
using AyTrack.Smtp.Dns;
using AyTrack.Smtp.Logging;
using AyTrack.Core.Spool;
using Microsoft.Extensions.Logging;

namespace AyTrack.Smtp.Delivery;

/// <summary>The external server's state that operators must see: a refused login is their problem to fix.</summary>
public sealed class RelayHealth
{
    public const string LoginRefused = "relay-login-refused";
    public const string Unreachable = "relay-unreachable";

    private volatile Problem? _problem;

    /// <summary>Null when the last attempt worked; otherwise what went wrong (reason code for /healthz, text for /api/health).</summary>
    public Problem? Current => _problem;

    public void Failed(string code, string problem) => _problem = new Problem(code, problem, _problem?.Code == code ? _problem.Since : DateTimeOffset.UtcNow);

    public void Worked() => _problem = null;

    public sealed record Problem(string Code, string Text, DateTimeOffset Since);

    private volatile RefusedCertificate? _lastRefused;

    /// <summary>
    /// The certificate this node last refused from the external server (null: none since it started), with its PEM, so
    /// an operator can look at it and, if it is the right one, pin it (the page's "trust the certificate last refused").
    /// </summary>
    public RefusedCertificate? LastRefused => _lastRefused;

    public void Refused(RefusedCertificate certificate) => _lastRefused = certificate;
}

public sealed record RefusedCertificate(string Host, string Subject, string Issuer, string Sha256, DateTimeOffset NotBefore, DateTimeOffset NotAfter,
    string Problem, string Pem, DateTimeOffset At);

/// <summary>
/// Delivers through the external SMTP server of the settings (relay.*), read at every attempt so a change acts
/// on the next one. TLS: None = STARTTLS when offered, unvalidated, plain otherwise (RFC 7435); SslOnConnect =
/// implicit TLS from the first byte (RFC 8314); StartTls = STARTTLS required. Both of the latter validate the
/// certificate against the system's trust plus trustedCertificates (an extra CA, or a pinned certificate). The
/// password is only sent over an encrypted connection unless relay.allowPlaintextAuth. At most
/// relay.maxConnections sessions run at once on this node.
/// </summary>
public sealed class RelayTransport(
    LiveSettings live,
    MxResolver resolver,
    ISpool spool,
    DeliveryOptions options,
    DeliveryLog deliveryLog,
    RelayHealth health,
    string heloName,
    ILogger<RelayTransport> logger,
    UnreadableMessages? unreadable = null,
    EgressSources? egress = null,
    LiveShaping? shaping = null) : IDeliveryTransport
{
    private readonly EgressSources _egress = egress ?? EgressSources.None(heloName);
    private readonly NetworkList _allowed = options.AllowedDestinationList;
    private readonly SessionDelivery _session = new(spool, deliveryLog, logger, "relay", unreadable);
    private readonly object _gate = new();
    private readonly Queue<TaskCompletionSource> _waiting = new();
    private int _open;

    public Task<IReadOnlyList<MessageAttempt>> DeliverAsync(RecipientDomain domain, IReadOnlyList<BatchItem> items, SiteLease? lease,
        CancellationToken cancellationToken) =>
        SenderPools.DeliverAsync(spool, shaping, items, lease,
            (group, pool, mayPark) => DeliverGroupAsync(group, lease, pool, mayPark, cancellationToken), cancellationToken);

    private async Task<IReadOnlyList<MessageAttempt>> DeliverGroupAsync(IReadOnlyList<BatchItem> items, SiteLease? lease, string? pool, bool mayPark,
        CancellationToken cancellationToken)
    {
        var current = live.Current;
        var settings = current.Settings;
        var relay = settings.Relay;
        var results = new List<MessageAttempt>(items.Count);
        var remaining = new Queue<BatchItem>(items);
        if (relay.Host.Trim().Length == 0)
        {
            SessionDelivery.FailAll(remaining, new SmtpReply(451, "4.3.5", "The external server is not set (relay.host)"), RecipientOutcome.Deferred, null, null, results);
            return _session.Logged(results, items, lease);
        }

        // In relay mode the external server is the site, and its slots (relay.maxConnections) are the lease's; the
        // fallback leg of direct-then-relay has no lease of the relay's site and takes one of this transport's own.
        var gated = lease is null;
        if (gated)
        {
            await EnterAsync(relay.MaxConnections, cancellationToken);
        }

        try
        {
            var source = _egress.Choose(pool);
            var key = $"relay|{relay.Host.ToLowerInvariant()}|{relay.Port}|{relay.Tls}|{relay.Username}|{current.Version}|{source.Name}";
            var failure = await DeliverViaRelayAsync(relay, settings.TrustedCertificates, key, source, lease, mayPark ? lease : null, remaining, results,
                cancellationToken);
            if (failure is not null)
            {
                SessionDelivery.FailAll(remaining, failure, RecipientOutcome.Deferred, relay.Host, null, results);
            }
        }
        finally
        {
            if (gated)
            {
                Leave();
            }
        }

        return _session.Logged(results, items, lease);
    }

    private async Task<SmtpReply?> DeliverViaRelayAsync(RelaySettings relay, IReadOnlyList<TrustedCertificate> trusted, string key, EgressSource source,
        SiteLease? lease, SiteLease? parkIn, Queue<BatchItem> remaining, List<MessageAttempt> results, CancellationToken cancellationToken)
    {
        // A session kept from an earlier batch: already logged in with the same settings.
        await _session.ReuseIdleAsync(lease, idle => idle.Key == key, remaining, results, parkIn, cancellationToken);
        if (remaining.Count == 0)
        {
            return null;
        }

        var addresses = await resolver.ResolveAddressesAsync(relay.Host, cancellationToken);
        if (addresses is LookupResult<IReadOnlyList<IPAddress>>.Failed dns)
        {
            return dns.Reply with { Code = 451, Enhanced = "4.4.3" };
        }

        SmtpReply? lastError = null;
        foreach (var ip in ((LookupResult<IReadOnlyList<IPAddress>>.Found)addresses).Value)
        {
            if (!_allowed.Contains(ip))
            {
                lastError = new SmtpReply(451, "4.4.1", $"{relay.Host} [{ip}] is outside AyTrack:Delivery:AllowedDestinations; not contacted");
                continue;
            }

            while (remaining.Count > 0)
            {
                var (client, failure, final) = await OpenAuthenticatedAsync(relay, trusted, ip, source, cancellationToken);
                if (client is null)
                {
                    if (final)
                    {
                        return failure;
                    }

                    lastError = failure;
                    break;
                }

                var session = new PooledSmtpSession(client, key, relay.Host, ip.ToString());
                var error = await _session.UseAsync(session, remaining, results, lease, parkIn, cancellationToken);
                if (error is not null)
                {
                    lastError = error;
                    break;
                }
            }

            if (remaining.Count == 0)
            {
                return null;
            }
        }

        return lastError ?? new SmtpReply(451, "4.4.1", $"The external server {relay.Host} could not be reached");
    }

    /// <summary>
    /// Connects to one address of the external server and logs in when the settings have a user; a refused login
    /// (or a password that would go in clear) is final for the attempt, a connection failure tries the next address.
    /// </summary>
    private async Task<(OutboundSmtpClient? Client, SmtpReply? Failure, bool Final)> OpenAuthenticatedAsync(RelaySettings relay,
        IReadOnlyList<TrustedCertificate> trusted, IPAddress ip, EgressSource source, CancellationToken cancellationToken)
    {
        var validation = new CertificateCheck(relay.Host, trusted, health);
        OutboundSmtpClient client;
        try
        {
            client = await ConnectAsync(relay, ip, validation, source, cancellationToken);
        }
        catch (Exception error) when (SessionDelivery.IsConnectionFailure(error))
        {
            var problem = Describe(relay, ip, error, validation);
            logger.LogWarning("External server {Host} [{Ip}]: {Problem}", relay.Host, ip, problem.Text);
            health.Failed(RelayHealth.Unreachable, problem.ToString());
            return (null, problem, false);
        }

        if (relay.RequiresAuth)
        {
            if (!client.IsSecure && !relay.AllowPlaintextAuth)
            {
                await client.DisposeAsync();
                var refused = new SmtpReply(451, "4.7.0",
                    $"Not sending the password for {relay.Host} over an unencrypted connection (set relay.tls, or relay.allowPlaintextAuth)");
                health.Failed(RelayHealth.LoginRefused, refused.ToString());
                return (null, refused, true);
            }

            try
            {
                await client.AuthenticateAsync(relay.Username, relay.Password.Reveal(), cancellationToken);
            }
            catch (SmtpLoginException error)
            {
                await client.DisposeAsync();
                // A refused login is the operator's to fix: the mail waits (deferred, not bounced) and the
                // problem is loud in the log, /healthz and the queue view.
                var refused = new SmtpReply(535, "5.7.8", $"{relay.Host} refused the login of '{relay.Username}': {error.Message}");
                logger.LogError("External server {Host} refused the login of {User}: {Error}; mail stays queued", relay.Host, relay.Username, error.Message);
                health.Failed(RelayHealth.LoginRefused, refused.ToString());
                return (null, refused, true);
            }
            catch (Exception error) when (SessionDelivery.IsConnectionFailure(error))
            {
                await client.DisposeAsync();
                var problem = Describe(relay, ip, error, validation);
                health.Failed(RelayHealth.Unreachable, problem.ToString());
                return (null, problem, false);
            }
        }

        health.Worked();
        return (client, null, false);
    }

    private async Task<OutboundSmtpClient> ConnectAsync(RelaySettings relay, IPAddress ip, CertificateCheck validation, EgressSource source,
        CancellationToken cancellationToken)
    {
        var mode = relay.Tls switch
        {
            RelayTls.SslOnConnect => OutboundTls.Implicit,
            RelayTls.StartTls => OutboundTls.StartTls,
            _ => OutboundTls.WhenOffered,
        };
        try
        {
            return await OpenAsync(relay, ip, mode, relay.Tls == RelayTls.None ? null : validation, source, cancellationToken);
        }
        catch (SmtpTlsException) when (relay.Tls == RelayTls.None)
        {
            // Opportunistic: a failed handshake falls back to plain text, as for direct MX delivery.
            return await OpenAsync(relay, ip, OutboundTls.None, null, source, cancellationToken);
        }
    }

    private Task<OutboundSmtpClient> OpenAsync(RelaySettings relay, IPAddress ip, OutboundTls mode, CertificateCheck? validation,
        EgressSource source, CancellationToken cancellationToken) =>
        SessionDelivery.OpenAsync(relay.Host, ip, relay.Port, mode, validation is null ? (_, _, _, _) => true : validation.Validate,
            options, source.EhloName, cancellationToken, source.BindAddress);

    private static SmtpReply Describe(RelaySettings relay, IPAddress ip, Exception error, CertificateCheck validation) => error switch
    {
        StartTlsUnavailableException => new SmtpReply(451, "4.7.10",
            $"{relay.Host} [{ip}] does not offer STARTTLS, which relay.tls StartTls requires; nothing was sent in clear"),
        SmtpTlsException when validation.Rejected is { } rejected => new SmtpReply(451, "4.7.5", rejected),
        SmtpTlsException => new SmtpReply(451, "4.7.5", $"TLS with {relay.Host} [{ip}] failed: {error.Message}"),
        OperationCanceledException or TimeoutException => new SmtpReply(451, "4.4.2", $"Timed out connecting to {relay.Host} [{ip}]"),
        SmtpReplyException refused => SmtpReply.From(refused.Reply.Code, $"{relay.Host} [{ip}] said: {refused.Reply.Text}"),
        _ => new SmtpReply(451, "4.4.1", $"Connection to {relay.Host} [{ip}] failed: {error.Message}"),
    };

    private async Task EnterAsync(int max, CancellationToken cancellationToken)
    {
        TaskCompletionSource waiter;
        lock (_gate)
        {
            if (_open < Math.Max(1, max))
            {
                _open++;
                return;
            }

            waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiting.Enqueue(waiter);
        }

        await waiter.Task.WaitAsync(cancellationToken);
    }

    private void Leave()
    {
        lock (_gate)
        {
            _open--;
            // relay.maxConnections is read now, so a raised or lowered cap acts as sessions end.
            var max = Math.Max(1, live.Current.Settings.Relay.MaxConnections);
            while (_open < max && _waiting.TryDequeue(out var waiter))
            {
                _open++;
                waiter.SetResult();
            }
        }
    }

    /// <summary>
    /// Certificate validation for SslOnConnect and StartTls: the system's trust, else a pinned certificate (by
    /// SHA-256, whatever its name or issuer), else a chain to one of the trusted CAs with the right name. There is
    /// no switch that accepts any certificate. A refusal names subject, issuer and fingerprint so it can be trusted.
    /// </summary>
    private sealed class CertificateCheck(string host, IReadOnlyList<TrustedCertificate> trusted, RelayHealth health)
    {
        public string? Rejected { get; private set; }

        public bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
        {
            if (certificate is null)
            {
                Rejected = $"{host} presented no certificate";
                return false;
            }

            if (errors == SslPolicyErrors.None)
            {
                return true;
            }

            using var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
            var fingerprint = leaf.GetCertHashString(HashAlgorithmName.SHA256).ToLowerInvariant();
            if (trusted.Any(t => t.Kind == CertificateKind.Pinned && t.Sha256 == fingerprint))
            {
                return true;
            }

            var authorities = trusted.Where(t => t.Kind == CertificateKind.Ca && t.Pem.Length > 0).ToList();
            if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) == 0 && authorities.Count > 0)
            {
                using var custom = new X509Chain();
                custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                foreach (var authority in authorities)
                {
                    custom.ChainPolicy.CustomTrustStore.Add(X509Certificate2.CreateFromPem(authority.Pem));
                }

                if (custom.Build(leaf))
                {
                    return true;
                }
            }

            Rejected = $"The certificate of {host} is not trusted ({errors}): subject {leaf.Subject}, issuer {leaf.Issuer}, SHA-256 {fingerprint}. " +
                       "Trust its CA (aytrack certs add FILE) or pin it (aytrack certs add FILE --kind Pinned).";
            health.Refused(new RefusedCertificate(host, leaf.Subject, leaf.Issuer, fingerprint, leaf.NotBefore.ToUniversalTime(), leaf.NotAfter.ToUniversalTime(),
                errors.ToString(), leaf.ExportCertificatePem(), DateTimeOffset.UtcNow));
            return false;
        }
    }
}
