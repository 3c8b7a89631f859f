using System.Net;
using AyTrack.Core.Addresses;
using AyTrack.Core.Configuration;
using SmtpServer;
using SmtpServer.Mail;
using SmtpServer.Net;
using SmtpServer.Protocol;
using SmtpServer.Storage;

namespace AyTrack.Smtp.Listener;

/// <summary>
/// MAIL FROM and RCPT TO decisions: who may relay (never an open relay), address syntax, recipient limit.
/// Refusals are thrown as <see cref="SmtpResponseException"/> because that is the library's only way to send a
/// reply code other than its fixed "550 mailbox unavailable".
/// </summary>
public sealed class ListenerPolicy(ListenerOptions options, NetworkList allowedNetworks, ListenerGate gate) : IMailboxFilter
{
    public Task<bool> CanAcceptFromAsync(ISessionContext context, IMailbox from, int size, CancellationToken cancellationToken)
    {
        if (gate.Stopping)
        {
            SessionState.Of(context).InTransaction = false;
            throw new SmtpResponseException(ListenerReplies.ShuttingDown, quit: true);
        }

        EnsureAllowedPeer(context);
        if (!IsNullPath(from))
        {
            var text = $"{from.User}@{from.Host}";
            if (!EmailAddress.TryParse(text, out var address, out var error))
            {
                throw new SmtpResponseException(ListenerReplies.BadSender(error));
            }

            if (address.IsInternational && !SessionState.Of(context).SmtpUtf8)
            {
                throw new SmtpResponseException(ListenerReplies.Utf8NotAnnounced);
            }
        }

        return Task.FromResult(true);
    }

    public Task<bool> CanDeliverToAsync(ISessionContext context, IMailbox to, IMailbox from, CancellationToken cancellationToken)
    {
        EnsureAllowedPeer(context);
        var session = SessionState.Of(context);
        if (session.RecipientCount >= options.MaxRecipients)
        {
            throw new SmtpResponseException(ListenerReplies.TooManyRecipients(options.MaxRecipients));
        }

        if (!EmailAddress.TryParse($"{to.User}@{to.Host}", out var address, out var error))
        {
            throw new SmtpResponseException(ListenerReplies.BadRecipient(error));
        }

        if (address.IsInternational && !session.SmtpUtf8)
        {
            throw new SmtpResponseException(ListenerReplies.Utf8NotAnnounced);
        }

        // Returning true always adds the recipient to the transaction, so this is the place to count it.
        session.RecipientCount++;
        return Task.FromResult(true);
    }

    public static bool IsNullPath(IMailbox mailbox) => string.IsNullOrEmpty(mailbox.User) && string.IsNullOrEmpty(mailbox.Host);

    public static IPAddress PeerAddress(ISessionContext context) =>
        context.Properties.TryGetValue(EndpointListener.RemoteEndPointKey, out var ep) && ep is IPEndPoint ip
            ? ip.Address
            : IPAddress.None;

    private void EnsureAllowedPeer(ISessionContext context)
    {
        var peer = PeerAddress(context);
        if (!allowedNetworks.Contains(peer))
        {
            throw new SmtpResponseException(ListenerReplies.RelayDenied(peer.ToString()));
        }
    }
}
