using System.Buffers;
using System.Text;
using AyTrack.Core.Addresses;
using AyTrack.Core.Configuration;
using AyTrack.Core.Messages;
using AyTrack.Core.Spool;
using Microsoft.Extensions.Logging;
using SmtpServer;
using SmtpServer.Protocol;
using SmtpServer.Storage;

namespace AyTrack.Smtp.Listener;

/// <summary>
/// The listener's one 250-or-not decision: a message gets "250" only after <see cref="ISpool.AcceptAsync"/> has
/// made body, envelope and every recipient durable; any doubt becomes "451 4.3.0" so the client keeps the message
/// and retries (the library would otherwise turn an exception into a bare 554).
/// </summary>
public sealed class SpoolMessageStore(ISpool spool, ListenerOptions options, string serverName, ILogger logger) : MessageStore
{
    public override async Task<SmtpResponse> SaveAsync(ISessionContext context, IMessageTransaction transaction,
        ReadOnlySequence<byte> buffer, CancellationToken cancellationToken)
    {
        try
        {
            return await AcceptAsync(context, transaction, buffer, cancellationToken);
        }
        finally
        {
            SessionState.Of(context).InTransaction = false;
        }
    }

    private async Task<SmtpResponse> AcceptAsync(ISessionContext context, IMessageTransaction transaction,
        ReadOnlySequence<byte> buffer, CancellationToken cancellationToken)
    {
        // RFC 1870 §4: the limit applies to the data itself, whatever SIZE= the client declared.
        if (buffer.Length > options.MaxMessageSize)
        {
            return ListenerReplies.TooBig(options.MaxMessageSize);
        }

        if (MessageData.HasBareLineEnding(buffer))
        {
            return ListenerReplies.BareLineEnding;
        }

        try
        {
            var session = SessionState.Of(context);
            var recipients = transaction.To.Select(m => EmailAddress.Parse($"{m.User}@{m.Host}")).ToList();
            var sender = ListenerPolicy.IsNullPath(transaction.From) ? string.Empty : EmailAddress.Parse($"{transaction.From.User}@{transaction.From.Host}").Address;
            var id = QueueId.New();
            var now = DateTimeOffset.UtcNow;
            var peer = ListenerPolicy.PeerAddress(context);
            var protocol = session.SmtpUtf8 ? "UTF8SMTP" : "ESMTP";
            var received = MessageData.ReceivedHeader(session.Helo, peer.ToString(), serverName, protocol, id.Value,
                recipients.Count == 1 ? recipients[0].Address : null, now);

            // The library's buffer stops before the CRLF that precedes the terminating dot; RFC 5321 §4.1.1.4 counts that
            // CRLF as the end of the message's last line, so it is restored.
            var body = new byte[Encoding.ASCII.GetByteCount(received) + buffer.Length + 2];
            var headerLength = Encoding.ASCII.GetBytes(received, body);
            buffer.CopyTo(body.AsSpan(headerLength));
            body[^2] = (byte)'\r';
            body[^1] = (byte)'\n';

            var envelope = new SpoolEnvelope(id, sender, recipients, now, session.SmtpUtf8, MessageData.FindHeader(body, "Message-ID"));
            // Not the session's token: once the data is in, a stopping listener still finishes storing it.
            await spool.AcceptAsync(envelope, body, CancellationToken.None);
            logger.LogInformation("Accepted {QueueId} from {Peer}: {Size} bytes, sender <{Sender}>, {Recipients} recipient(s)",
                id, peer, buffer.Length, sender, recipients.Count);
            return ListenerReplies.Queued(id.Value);
        }
        catch (Exception error)
        {
            logger.LogError(error, "Spool write failed; answered 451 so the client retries");
            return ListenerReplies.TemporaryFailure;
        }
    }
}
