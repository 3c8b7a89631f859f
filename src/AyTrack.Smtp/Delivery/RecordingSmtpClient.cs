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

    public void BeginMessage() => _refused.Clear();

    protected override void OnRecipientNotAccepted(MimeMessage message, MailboxAddress mailbox, SmtpResponse response) =>
        _refused[mailbox.Address] = response;

    protected override void Prepare(FormatOptions options, MimeMessage message, EncodingConstraint constraint, int maxLineLength)
    {
        // Relay unchanged (RFC 5321 §2.3.8: content is the client's; an MTA passes it on).
    }
}
