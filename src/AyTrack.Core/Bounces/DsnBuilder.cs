using System.Globalization;
using System.Text;
using AyTrack.Core.Domains;
using AyTrack.Core.Spool;
using MimeKit;
using MimeKit.Utils;

namespace AyTrack.Core.Bounces;

/// <summary>
/// Writes the delivery status notification (RFC 3464) that tells a sender some recipients will not get the message:
/// multipart/report with a human explanation, a message/delivery-status part (per-message fields, then per
/// recipient Final-Recipient, Action, Status, Remote-MTA, Diagnostic-Code) and the original headers
/// (text/rfc822-headers, not the body: RFC 3462 §3 lets the report leave it out, and the sender has it).
/// </summary>
public static class DsnBuilder
{
    public const string Subject = "Undelivered Mail Returned to Sender";

    public static MimeMessage Build(SpoolEnvelope original, ReadOnlySpan<byte> originalMessage, IReadOnlyList<BounceRecipient> recipients,
        string reportingMta, DateTimeOffset now, BounceRuleSet? categories = null)
    {
        if (original.Sender.Length == 0)
        {
            throw new ArgumentException("a message with a null sender is never bounced (RFC 5321 §4.5.5)", nameof(original));
        }

        var message = new MimeMessage();
        message.From.Add(new MailboxAddress("Mail Delivery System", $"MAILER-DAEMON@{reportingMta}"));
        message.To.Add(new MailboxAddress(string.Empty, original.Sender));
        message.Subject = Subject;
        message.Date = now;
        message.MessageId = MimeUtils.GenerateMessageId(reportingMta);
        // RFC 3834 §5: automatic replies say so, so that auto-responders do not answer them.
        message.Headers.Add("Auto-Submitted", "auto-replied");
        if (original.MessageIdHeader is { } originalId)
        {
            message.InReplyTo = originalId.Trim('<', '>');
            message.References.Add(originalId.Trim('<', '>'));
        }

        var report = new MultipartReport("delivery-status");
        report.Add(new TextPart("plain") { Text = Explanation(original, recipients, reportingMta, categories ?? BounceRulesFile.Defaults) });

        var status = new MessageDeliveryStatus();
        var perMessage = new HeaderList
        {
            { "Reporting-MTA", $"dns; {reportingMta}" },
            { "X-AyTrack-Queue-ID", original.Id.Value },
            { "Arrival-Date", DateUtils.FormatDate(original.ReceivedAt) },
        };
        status.StatusGroups.Add(perMessage);
        foreach (var recipient in recipients)
        {
            var group = new HeaderList
            {
                { "Final-Recipient", $"rfc822; {recipient.Recipient}" },
                { "Action", "failed" },
                { "Status", recipient.Status },
            };
            if (recipient.RemoteMta is { Length: > 0 } remote)
            {
                group.Add("Remote-MTA", $"dns; {remote}");
            }

            if (recipient.Diagnostic.Length > 0)
            {
                group.Add("Diagnostic-Code", $"smtp; {recipient.Diagnostic}");
            }

            group.Add("Last-Attempt-Date", DateUtils.FormatDate(now));
            status.StatusGroups.Add(group);
        }

        report.Add(status);

        var headerEnd = originalMessage.IndexOf("\r\n\r\n"u8);
        var headers = headerEnd < 0 ? originalMessage : originalMessage[..(headerEnd + 2)];
        var headersOnly = MimeMessage.Load(new MemoryStream([.. headers, (byte)'\r', (byte)'\n']));
        headersOnly.Body = null;
        report.Add(new TextRfc822Headers { Message = headersOnly });

        message.Body = report;
        return message;
    }

    public static byte[] ToBytes(MimeMessage message)
    {
        using var stream = new MemoryStream();
        var format = FormatOptions.Default.Clone();
        format.NewLineFormat = NewLineFormat.Dos;
        message.WriteTo(format, stream);
        return stream.ToArray();
    }

    /// <summary>The category in words a sender understands.</summary>
    public static string Describe(BounceCategory category) => category switch
    {
        BounceCategory.InvalidRecipient => "the address does not exist or no longer accepts mail",
        BounceCategory.MailboxFull => "the mailbox is full",
        BounceCategory.MessageTooLarge => "the message is larger than the receiver accepts",
        BounceCategory.SpamBlock => "the receiver took the message or our server for spam (a content filter or a blocklist)",
        BounceCategory.PolicyBlock => "the receiver's policy refused the message",
        BounceCategory.RateLimited => "the receiver limited how much mail it takes from us and we gave up waiting",
        BounceCategory.AuthenticationFailure => "the message did not pass the receiver's SPF, DKIM or DMARC checks",
        BounceCategory.DnsFailure => "the recipient's domain or mail server could not be found in DNS",
        BounceCategory.TlsFailure => "no secure connection could be made to the receiver, which requires one",
        BounceCategory.ConnectionFailure => "the receiver's mail server could not be reached",
        BounceCategory.ContentRejected => "the receiver refused the message's content (for example an attachment)",
        _ => "the receiver refused the message",
    };

    private static string Explanation(SpoolEnvelope original, IReadOnlyList<BounceRecipient> recipients, string reportingMta,
        BounceRuleSet categories)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"This is the mail system at host {reportingMta}.\n\n");
        text.Append("Your message could not be delivered to one or more recipients. It is attached below (headers only).\n\n");
        foreach (var recipient in recipients)
        {
            var why = recipient.Status == "5.4.7"
                ? "delivery was given up after the retry period: " + recipient.Diagnostic
                : recipient.Diagnostic;
            var category = categories.Classify(recipient.Diagnostic.Length > 0 ? recipient.Diagnostic : recipient.Status);
            text.Append(CultureInfo.InvariantCulture, $"<{recipient.Recipient}>: {Describe(category)} ({category}).\n    {why}\n");
        }

        text.Append(CultureInfo.InvariantCulture, $"\nQueue ID: {original.Id.Value}\n");
        return text.ToString();
    }
}
