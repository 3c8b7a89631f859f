using AyTrack.Core.Dsn;
using MailKit.Net.Smtp;
using MimeKit;

namespace AyTrack.Smtp.Delivery;

/// <summary>
/// MailKit's client with two changes an MTA needs: a refused recipient is recorded instead of aborting the whole
/// transaction (the others still get the message), and the message is sent exactly as it was accepted — MailKit
/// would otherwise re-encode parts for the server's capabilities, which changes the bytes and breaks signatures.
/// </summary>
internal sealed class RecordingSmtpClient : SmtpClient
{
    private readonly Dictionary<string, SmtpResponse> _refused = new(StringComparer.OrdinalIgnoreCase);

    public IReadOnlyDictionary<string, SmtpResponse> Refused => _refused;

    /// <summary>The DSN request of the message being sent, passed on to a server that supports DSN (RFC 3461 §6.2).</summary>
    public DsnOptions? Dsn { get; private set; }

    public void BeginMessage(DsnOptions? dsn = null)
    {
        _refused.Clear();
        Dsn = dsn;
        DeliveryStatusNotificationType = dsn?.Return switch
        {
            DsnReturn.Full => MailKit.Net.Smtp.DeliveryStatusNotificationType.Full,
            DsnReturn.Headers => MailKit.Net.Smtp.DeliveryStatusNotificationType.HeadersOnly,
            _ => MailKit.Net.Smtp.DeliveryStatusNotificationType.Unspecified,
        };
    }

    // MailKit adds these only when the server advertises DSN, and encodes them as xtext itself. It writes ORCPT as the
    // RCPT address and offers no hook for another one, so a client's ORCPT reaches our own reports but not the next hop.
    protected override string? GetEnvelopeId(MimeMessage message) => Dsn?.EnvelopeId;

    protected override MailKit.DeliveryStatusNotification? GetDeliveryStatusNotifications(MimeMessage message, MailboxAddress mailbox)
    {
        if (Dsn?.For(mailbox.Address).Notify is not { } notify)
        {
            return null;
        }

        if (notify == DsnNotify.Never)
        {
            return MailKit.DeliveryStatusNotification.Never;
        }

        var flags = default(MailKit.DeliveryStatusNotification);
        flags |= (notify & DsnNotify.Success) != 0 ? MailKit.DeliveryStatusNotification.Success : 0;
        flags |= (notify & DsnNotify.Failure) != 0 ? MailKit.DeliveryStatusNotification.Failure : 0;
        flags |= (notify & DsnNotify.Delay) != 0 ? MailKit.DeliveryStatusNotification.Delay : 0;
        return flags;
    }

    protected override void OnRecipientNotAccepted(MimeMessage message, MailboxAddress mailbox, SmtpResponse response) =>
        _refused[mailbox.Address] = response;

    protected override void Prepare(FormatOptions options, MimeMessage message, EncodingConstraint constraint, int maxLineLength)
    {
        // Relay unchanged (RFC 5321 §2.3.8: content is the client's; an MTA passes it on).
    }
}
