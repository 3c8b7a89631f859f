using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using AyTrack.Core.Configuration;
using AyTrack.Core.Delivery;
using AyTrack.Core.Shaping;
using AyTrack.Smtp.Logging;
using AyTrack.Core.Spool;
using AyTrack.Core.Smtp;
using Microsoft.Extensions.Logging;

namespace AyTrack.Smtp.Delivery;

/// <summary>
/// What every transport does once a session is open: send the batch's messages one after another over it, one result
/// per recipient, and write the delivery log. Direct MX delivery and the external relay differ only in how they
/// find and open the session.
/// </summary>
/// <param name="route">"direct" or "relay": what the delivery log and the metrics call this transport's attempts.</param>
internal sealed class SessionDelivery(ISpool spool, DeliveryLog deliveryLog, ILogger logger, string route, UnreadableMessages? unreadable = null)
{
    /// <summary>
    /// Opens a session with <paramref name="host"/> at <paramref name="ip"/>: a TCP connection bounded by
    /// AyTrack:Delivery:ConnectTimeout, then the greeting, EHLO and TLS as <paramref name="mode"/> asks, each step
    /// bounded by AyTrack:Delivery:CommandTimeout.
    /// </summary>
    public static async Task<OutboundSmtpClient> OpenAsync(string host, IPAddress ip, int port, OutboundTls mode,
        RemoteCertificateValidationCallback validation, DeliveryOptions options, string heloName, CancellationToken cancellationToken,
        IPAddress? bind = null)
    {
        if (bind is not null && bind.AddressFamily != ip.AddressFamily)
        {
            // A session must come from its source's address or not at all: falling back to the system's choice would
            // send the pool's mail from an address its operator did not pick.
            throw new SocketException((int)SocketError.AddressFamilyNotSupported);
        }

        // No Nagle: a small command after a write the server has not acknowledged yet would wait for its delayed
        // ACK (40 ms on Linux).
        Socket? socket = new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            if (bind is not null)
            {
                socket.Bind(new IPEndPoint(bind, 0));
            }

            using (var connectTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                connectTimeout.CancelAfter(options.ConnectTimeout);
                await socket.ConnectAsync(new IPEndPoint(ip, port), connectTimeout.Token);
            }

            // The client owns the socket from here, and closes it when it fails.
            var connected = socket;
            socket = null;
            return await OutboundSmtpClient.ConnectAsync(connected, host, mode, validation, heloName, options.CommandTimeout, cancellationToken);
        }
        catch
        {
            socket?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Sends what remains over an open session, at most <paramref name="capacity"/> messages; returns why it stopped
    /// early (the session is then unusable), or null when it took everything or its capacity. With
    /// <paramref name="quit"/> the session ends with QUIT; otherwise the caller parks or closes it.
    /// </summary>
    public async Task<SmtpReply?> RunAsync(OutboundSmtpClient client, string host, string ip, Queue<BatchItem> remaining,
        List<MessageAttempt> results, CancellationToken cancellationToken, int capacity = int.MaxValue, bool quit = true)
    {
        for (var sent = 0; remaining.Count > 0 && sent < capacity; sent++)
        {
            if (client.ClosedBecause is { } closed)
            {
                // The server ended the session (421): the rest try the next address, with its words as the reason.
                return closed;
            }

            var item = remaining.Peek();
            var outcome = await SendOneAsync(client, item, host, ip, cancellationToken);
            if (outcome is null)
            {
                // The connection broke during this message: it may or may not have arrived, so it is deferred
                // (at-least-once); the rest try the next address.
                remaining.Dequeue();
                results.Add(Uniform(item, new SmtpReply(451, "4.4.2", $"Connection to {host} [{ip}] lost during the transaction"),
                    RecipientOutcome.Deferred, host, ip));
                return new SmtpReply(451, "4.4.2", $"Connection to {host} [{ip}] lost");
            }

            remaining.Dequeue();
            results.Add(outcome with { Tls = client.IsSecure });
        }

        if (!quit)
        {
            return null;
        }

        try
        {
            await client.QuitAsync(cancellationToken);
        }
        catch (Exception error) when (IsConnectionFailure(error))
        {
            logger.LogDebug("QUIT to {Host} failed: {Error}", host, error.Message);
        }

        return null;
    }

    public async Task<MessageAttempt?> SendOneAsync(OutboundSmtpClient client, BatchItem item, string host, string ip,
        CancellationToken cancellationToken)
    {
        SpooledMessage? spooled;
        string? unreadableBecause = null;
        try
        {
            spooled = await spool.LoadAsync(item.Id, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            spooled = null;
            unreadableBecause = e.Message;
        }

        if (spooled is null)
        {
            // A queued message missing from the spool, or unreadable, means damaged storage: never a bounce for that.
            unreadable?.Add(item.Id);
            logger.LogError("The content of queued message {Id} cannot be read from the spool ({Reason}); its recipients are held",
                item.Id, unreadableBecause ?? "not found");
            return Uniform(item, new SmtpReply(451, "4.3.0", "The message's content cannot be read from the spool; held for an operator " +
                "(storage damaged? see aytrack health)"), RecipientOutcome.Held, host, ip);
        }

        // RFC 6531 §3.2: a message that needs SMTPUTF8 must not be downgraded silently for a server without it.
        if (spooled.Envelope.SmtpUtf8 && !client.Offer.Has(SmtpExtensions.SmtpUtf8))
        {
            return Uniform(item, new SmtpReply(553, "5.6.7", $"{host} does not support SMTPUTF8, which this message requires"),
                RecipientOutcome.Failed, host, ip);
        }

        TransactionResult sent;
        try
        {
            // The stored bytes go out as they were accepted (RFC 5321 §2.3.8: content is the client's; a relay passes
            // it on), only dot-stuffed: no parse, no re-serialisation, a DKIM signature made at acceptance stays valid.
            sent = await client.SendAsync(spooled.Envelope.Sender, item.Recipients, spooled.Body, spooled.Envelope.SmtpUtf8,
                spooled.Envelope.Dsn, cancellationToken);
        }
        catch (ArgumentException damaged)
        {
            logger.LogError("Queued message {Id} has an envelope no SMTP command can carry ({Reason}); its recipients are held", item.Id, damaged.Message);
            return Uniform(item, new SmtpReply(451, "4.3.0", "The message's envelope is damaged; held for an operator (see aytrack health)"),
                RecipientOutcome.Held, host, ip);
        }
        catch (Exception error) when (IsConnectionFailure(error))
        {
            logger.LogInformation("Session with {Host} [{Ip}] broke: {Error}", host, ip, error.Message);
            return null;
        }

        var attempt = new MessageAttempt(item.Id, item.Recipients.Select(r => sent.RecipientRefusals.TryGetValue(r, out var refused)
            ? Result(r, refused)
            : sent.Accepted is { } accepted
                ? new RecipientAttempt(r, RecipientOutcome.Delivered, accepted)
                : new RecipientAttempt(r, FailureClassification.Classify(sent.Refused!), sent.Refused!)).ToList(), host, ip)
        {
            MessageIdHeader = spooled.Envelope.MessageIdHeader,
            User = spooled.Envelope.AuthenticatedUser,
        };
        if (sent.Accepted is not null)
        {
            await ReportRelayedAsync(client, spooled, attempt, host);
        }

        return attempt;
    }

    /// <summary>
    /// RFC 3461 §6.2.2: recipients whose sender asked for success notices (NOTIFY=SUCCESS), handed to a server that does
    /// not support DSN, get a "relayed" report now, because nobody further on will send one. A server with DSN got
    /// the request passed on and reports itself.
    /// </summary>
    private async Task ReportRelayedAsync(OutboundSmtpClient client, SpooledMessage spooled, MessageAttempt attempt, string host)
    {
        if (spooled.Envelope.Dsn is not { } dsn || spooled.Envelope.Sender.Length == 0 || client.Offer.Has(SmtpExtensions.Dsn))
        {
            return;
        }

        var relayed = attempt.Results
            .Where(r => r.Outcome == RecipientOutcome.Delivered && dsn.Wants(r.Recipient, AyTrack.Core.Dsn.DsnNotify.Success))
            .Select(r => new AyTrack.Core.Domains.BounceRecipient(r.Recipient, "2.0.0", r.Reply.ToString(), host))
            .ToList();
        if (relayed.Count == 0)
        {
            return;
        }

        try
        {
            var now = DateTimeOffset.UtcNow;
            var report = AyTrack.Core.Bounces.DsnBuilder.BuildRelayed(spooled.Envelope, spooled.Body, relayed, client.LocalDomain, now);
            await AyTrack.Core.Bounces.DsnBuilder.QueueAsync(spool, spooled.Envelope, report, now);
            logger.LogInformation("Success notice (relayed) for {Count} recipient(s) of {Id} queued to <{Sender}>", relayed.Count,
                spooled.Envelope.Id, spooled.Envelope.Sender);
        }
        catch (Exception error) when (error is not OperationCanceledException)
        {
            // The delivery stands; only its notice is lost, and the operator sees why.
            logger.LogError("Could not queue the success notice for {Id}: {Error}", spooled.Envelope.Id, error.Message);
        }
    }

    public static bool IsConnectionFailure(Exception error) =>
        error is SocketException or IOException or TimeoutException or SmtpTlsException or SmtpReplyException or StartTlsUnavailableException
            or OperationCanceledException or ObjectDisposedException;

    public static RecipientAttempt Result(string recipient, SmtpReply reply) => new(recipient, FailureClassification.Classify(reply), reply);

    public static MessageAttempt Uniform(BatchItem item, SmtpReply reply, RecipientOutcome outcome, string? host, string? ip) =>
        new(item.Id, item.Recipients.Select(r => new RecipientAttempt(r, outcome, reply)).ToList(), host, ip);

    public static void FailAll(Queue<BatchItem> remaining, SmtpReply reply, RecipientOutcome outcome, string? host, string? ip,
        List<MessageAttempt> results)
    {
        while (remaining.TryDequeue(out var item))
        {
            results.Add(Uniform(item, reply, outcome, host, ip));
        }
    }

    /// <summary>
    /// The attempt's results after the site's automation rules (a suspension, a reduction, a recipient failed for
    /// good), written to the delivery log with every change the rules made to the site.
    /// </summary>
    public IReadOnlyList<MessageAttempt> Logged(List<MessageAttempt> results, IReadOnlyList<BatchItem> items, SiteLease? lease, string? mtaSts = null)
    {
        IReadOnlyList<MessageAttempt> final = results;
        IReadOnlyList<SiteChange> changes = [];
        if (lease is not null)
        {
            (final, changes) = SiteAutomation.Apply(lease.Limiter, lease.Shaping, results, deliveryLog.Classify);
        }

        var attempts = items.ToDictionary(i => i.Id.Value, i => i.Attempt);
        var now = DateTimeOffset.UtcNow;
        deliveryLog.Write(final.SelectMany(m => m.Results.Select(r => new DeliveryLogEntry(
            now, m.Id.Value, m.MessageIdHeader, r.Recipient, r.Outcome.ToString().ToLowerInvariant(), r.Reply.ToString(),
            m.RemoteHost, m.RemoteIp, m.Tls, attempts.GetValueOrDefault(m.Id.Value, 1))
            {
                MtaSts = mtaSts, User = m.User, Route = route, Site = lease?.Site,
            })).Concat(changes.Select(DeliveryLogEntry.ForSite)));
        foreach (var change in changes)
        {
            logger.LogWarning("Site {Site} {What} until {Until:u}: {Reason}", change.Site, change.What, change.Until, change.Reason);
        }

        return final;
    }

    /// <summary>
    /// The lease's idle session, used for what remains when <paramref name="fits"/> says it is the session this batch
    /// would open and it still answers; closed otherwise. Does nothing without a lease or an idle session.
    /// </summary>
    public async Task ReuseIdleAsync(SiteLease? lease, Func<PooledSmtpSession, bool> fits, Queue<BatchItem> remaining, List<MessageAttempt> results,
        SiteLease? parkIn, CancellationToken cancellationToken)
    {
        if (lease?.TakeIdle() is not PooledSmtpSession idle)
        {
            return;
        }

        if (fits(idle) && await idle.AliveAsync(cancellationToken))
        {
            await UseAsync(idle, remaining, results, lease, parkIn, cancellationToken);
        }
        else
        {
            await idle.DisposeAsync();
        }
    }

    /// <summary>
    /// Sends what remains over a session within its life (the lease's messagesPerConnection), then ends its part in
    /// the batch: parked in <paramref name="parkIn"/> for the site's next batch when it is healthy, everything was sent
    /// and it may carry more messages; otherwise QUIT. Returns why it stopped early, or null.
    /// </summary>
    public async Task<SmtpReply?> UseAsync(PooledSmtpSession session, Queue<BatchItem> remaining, List<MessageAttempt> results, SiteLease? lease,
        SiteLease? parkIn, CancellationToken cancellationToken)
    {
        var perConnection = lease?.Shaping.MessagesPerConnection ?? int.MaxValue;
        var before = results.Count;
        var error = await RunAsync(session.Client, session.Host, session.Ip, remaining, results, cancellationToken,
            Math.Max(0, perConnection - session.Delivered), quit: false);
        session.Delivered += results.Count - before;
        if (error is null && remaining.Count == 0 && parkIn is not null && session.Client.IsConnected
            && session.Delivered < perConnection && parkIn.Park(session))
        {
            return null;
        }

        await session.DisposeAsync();
        return error;
    }
}
