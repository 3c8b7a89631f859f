using System.Net;
using System.Net.Sockets;
using AyTrack.Core.Addresses;
using AyTrack.Core.Configuration;
using AyTrack.Core.Delivery;
using AyTrack.Smtp.Dns;
using AyTrack.Smtp.Logging;
using AyTrack.Smtp.Spool;
using MailKit;
using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Extensions.Logging;
using MimeKit;

namespace AyTrack.Smtp.Delivery;

/// <summary>
/// Delivers a batch of messages for one recipient domain straight to its MX hosts (RFC 5321 §5.1): hosts in MX
/// order, every address of a host before the next host, one session for as many messages as it will take,
/// opportunistic STARTTLS (RFC 7435). Returns a result for every recipient it was given.
/// </summary>
public sealed class DirectMxTransport(
    MxResolver resolver,
    ISpool spool,
    DeliveryOptions options,
    DeliveryLog deliveryLog,
    string heloName,
    ILogger<DirectMxTransport> logger) : IDeliveryTransport
{
    private readonly NetworkList _allowed = options.AllowedDestinationList;

    public async Task<IReadOnlyList<MessageAttempt>> DeliverAsync(RecipientDomain domain, IReadOnlyList<BatchItem> items,
        CancellationToken cancellationToken)
    {
        var results = new List<MessageAttempt>(items.Count);
        var remaining = new Queue<BatchItem>(items);

        var mx = await resolver.ResolveMxAsync(domain, cancellationToken);
        if (mx is LookupResult<MxRoute>.Failed dnsFailure)
        {
            FailAll(remaining, dnsFailure.Reply, FailureClassification.Classify(dnsFailure.Reply), null, null, results);
            return Logged(results, items);
        }

        var route = (MxRoute.Hosts)((LookupResult<MxRoute>.Found)mx).Value;
        SmtpReply lastError = new(451, "4.4.1", $"No MX host of {domain} could be reached");
        foreach (var host in route.Names)
        {
            var addresses = await resolver.ResolveAddressesAsync(host, cancellationToken);
            if (addresses is LookupResult<IReadOnlyList<IPAddress>>.Failed addressFailure)
            {
                // An implicit MX that does not resolve means the domain has no mail server at all (a permanent
                // failure); a listed MX host that does not resolve is just unreachable, so the next one is tried.
                if (route.Implicit && FailureClassification.Classify(addressFailure.Reply) == RecipientOutcome.Failed)
                {
                    FailAll(remaining, addressFailure.Reply, RecipientOutcome.Failed, host, null, results);
                    return Logged(results, items);
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

                var error = await DeliverToAddressAsync(host, ip, remaining, results, cancellationToken);
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
        FailAll(remaining, lastError, RecipientOutcome.Deferred, null, null, results);
        return Logged(results, items);
    }

    /// <summary>Runs one session against one address; returns why it stopped early, or null when it took everything.</summary>
    private async Task<SmtpReply?> DeliverToAddressAsync(string host, IPAddress ip, Queue<BatchItem> remaining,
        List<MessageAttempt> results, CancellationToken cancellationToken)
    {
        RecordingSmtpClient client;
        try
        {
            client = await ConnectAsync(host, ip, SecureSocketOptions.StartTlsWhenAvailable, cancellationToken);
        }
        catch (SslHandshakeException tlsError)
        {
            // Opportunistic TLS (RFC 7435 §6, Postfix "may"): a failed handshake falls back to plain text.
            logger.LogInformation("STARTTLS with {Host} [{Ip}] failed ({Error}); retrying in plain text", host, ip, tlsError.Message);
            try
            {
                client = await ConnectAsync(host, ip, SecureSocketOptions.None, cancellationToken);
            }
            catch (Exception error) when (IsConnectionFailure(error))
            {
                return ConnectionError(host, ip, error);
            }
        }
        catch (Exception error) when (IsConnectionFailure(error))
        {
            return ConnectionError(host, ip, error);
        }

        using (client)
        {
            var ipText = ip.ToString();
            while (remaining.Count > 0)
            {
                var item = remaining.Peek();
                var outcome = await SendOneAsync(client, item, host, ipText, cancellationToken);
                if (outcome is null)
                {
                    // The connection broke during this message: it may or may not have arrived, so it is deferred
                    // (at-least-once); the rest try the next address.
                    remaining.Dequeue();
                    results.Add(Uniform(item, new SmtpReply(451, "4.4.2", $"Connection to {host} [{ip}] lost during the transaction"),
                        RecipientOutcome.Deferred, host, ipText));
                    return new SmtpReply(451, "4.4.2", $"Connection to {host} [{ip}] lost");
                }

                remaining.Dequeue();
                results.Add(outcome with { Tls = client.IsSecure });
            }

            try
            {
                await client.DisconnectAsync(quit: true, cancellationToken);
            }
            catch (Exception error) when (IsConnectionFailure(error))
            {
                logger.LogDebug("QUIT to {Host} failed: {Error}", host, error.Message);
            }
        }

        return null;
    }

    private async Task<MessageAttempt?> SendOneAsync(RecordingSmtpClient client, BatchItem item, string host, string ip,
        CancellationToken cancellationToken)
    {
        var spooled = await spool.LoadAsync(item.Id, cancellationToken);
        if (spooled is null)
        {
            return Uniform(item, new SmtpReply(554, "5.3.0", "Message is no longer in the spool"), RecipientOutcome.Failed, host, ip);
        }

        // RFC 6531 §3.2: a message that needs SMTPUTF8 must not be downgraded silently for a server without it.
        if (spooled.Envelope.SmtpUtf8 && !client.Capabilities.HasFlag(SmtpCapabilities.UTF8))
        {
            return Uniform(item, new SmtpReply(553, "5.6.7", $"{host} does not support SMTPUTF8, which this message requires"),
                RecipientOutcome.Failed, host, ip);
        }

        var format = FormatOptions.Default.Clone();
        format.NewLineFormat = NewLineFormat.Dos;
        format.International = spooled.Envelope.SmtpUtf8;
        var sender = new MailboxAddress(string.Empty, spooled.Envelope.Sender);
        var recipients = item.Recipients.Select(r => new MailboxAddress(string.Empty, r)).ToList();

        client.BeginMessage();
        try
        {
            using var body = new MemoryStream(spooled.Body, writable: false);
            var message = await MimeMessage.LoadAsync(body, cancellationToken);
            var response = await client.SendAsync(format, message, sender, recipients, cancellationToken);
            var accepted = SmtpReply.From(250, response);
            return new MessageAttempt(item.Id, item.Recipients.Select(r => client.Refused.TryGetValue(r, out var refused)
                ? Result(r, refused)
                : new RecipientAttempt(r, RecipientOutcome.Delivered, accepted)).ToList(), host, ip)
            {
                MessageIdHeader = spooled.Envelope.MessageIdHeader,
            };
        }
        catch (SmtpCommandException rejected)
        {
            // MAIL FROM, all RCPTs or the DATA reply refused: recipients keep their own RCPT reply when they had one.
            var reply = SmtpReply.From((int)rejected.StatusCode, rejected.Message);
            return new MessageAttempt(item.Id, item.Recipients.Select(r => client.Refused.TryGetValue(r, out var refused)
                ? Result(r, refused)
                : new RecipientAttempt(r, FailureClassification.Classify(reply), reply)).ToList(), host, ip)
            {
                MessageIdHeader = spooled.Envelope.MessageIdHeader,
            };
        }
        catch (Exception error) when (IsConnectionFailure(error))
        {
            logger.LogInformation("Session with {Host} [{Ip}] broke: {Error}", host, ip, error.Message);
            return null;
        }
    }

    private async Task<RecordingSmtpClient> ConnectAsync(string host, IPAddress ip, SecureSocketOptions tls, CancellationToken cancellationToken)
    {
        var socket = new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            using (var connectTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                connectTimeout.CancelAfter(options.ConnectTimeout);
                await socket.ConnectAsync(new IPEndPoint(ip, options.MxPort), connectTimeout.Token);
            }

            var client = new RecordingSmtpClient
            {
                LocalDomain = heloName,
                Timeout = (int)options.CommandTimeout.TotalMilliseconds,
                CheckCertificateRevocation = false,
                // Direct MX delivery is opportunistic (RFC 7435): encrypt when offered, authenticate nobody.
                ServerCertificateValidationCallback = (_, _, _, _) => true,
            };
            try
            {
                await client.ConnectAsync(socket, host, options.MxPort, tls, cancellationToken);
            }
            catch
            {
                client.Dispose();
                throw;
            }

            return client;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private SmtpReply ConnectionError(string host, IPAddress ip, Exception error)
    {
        logger.LogInformation("Could not open a session with {Host} [{Ip}]: {Error}", host, ip, error.Message);
        return error switch
        {
            SmtpCommandException command => SmtpReply.From((int)command.StatusCode, $"{host} [{ip}] said: {command.Message}"),
            OperationCanceledException or TimeoutException => new SmtpReply(451, "4.4.2", $"Timed out connecting to {host} [{ip}]"),
            _ => new SmtpReply(451, "4.4.1", $"Connection to {host} [{ip}] failed: {error.Message}"),
        };
    }

    private static bool IsConnectionFailure(Exception error) =>
        error is SocketException or IOException or SmtpProtocolException or ServiceNotConnectedException or TimeoutException
            or SslHandshakeException or SmtpCommandException or OperationCanceledException or System.Security.Authentication.AuthenticationException;

    private static RecipientAttempt Result(string recipient, SmtpResponse response)
    {
        var reply = SmtpReply.From((int)response.StatusCode, response.Response);
        return new RecipientAttempt(recipient, FailureClassification.Classify(reply), reply);
    }

    private static MessageAttempt Uniform(BatchItem item, SmtpReply reply, RecipientOutcome outcome, string? host, string? ip) =>
        new(item.Id, item.Recipients.Select(r => new RecipientAttempt(r, outcome, reply)).ToList(), host, ip);

    private static void FailAll(Queue<BatchItem> remaining, SmtpReply reply, RecipientOutcome outcome, string? host, string? ip,
        List<MessageAttempt> results)
    {
        while (remaining.TryDequeue(out var item))
        {
            results.Add(Uniform(item, reply, outcome, host, ip));
        }
    }

    private IReadOnlyList<MessageAttempt> Logged(List<MessageAttempt> results, IReadOnlyList<BatchItem> items)
    {
        var attempts = items.ToDictionary(i => i.Id.Value, i => i.Attempt);
        var now = DateTimeOffset.UtcNow;
        deliveryLog.Write(results.SelectMany(m => m.Results.Select(r => new DeliveryLogEntry(
            now, m.Id.Value, m.MessageIdHeader, r.Recipient, r.Outcome.ToString().ToLowerInvariant(), r.Reply.ToString(),
            m.RemoteHost, m.RemoteIp, m.Tls, attempts.GetValueOrDefault(m.Id.Value, 1)))));
        return results;
    }
}
