using System.Globalization;
using System.Text;
using AyTrack.Core.Addresses;
using AyTrack.Core.Domains;
using AyTrack.Core.Spool;
using MimeKit;
using MimeKit.Utils;

namespace AyTrack.Core.Bounces;

/// <summary>
/// Writes delivery status notifications (RFC 3464): that some recipients will not get the message (failed), or, when
/// the sender asked (NOTIFY=SUCCESS, RFC 3461), that it was relayed to a server that cannot report further.
/// multipart/report with a human explanation, a message/delivery-status part (per-message fields with the sender's
/// ENVID, then per recipient Original-Recipient from ORCPT, Final-Recipient, Action, Status, Remote-MTA,
/// Diagnostic-Code) and the original: its headers (text/rfc822-headers; RET=HDRS or no RET), or the whole message
/// (message/rfc822) for a failure when the sender asked with RET=FULL.
/// </summary>
public static class DsnBuilder
{
    public const string Subject = "Undelivered Mail Returned to Sender";

    public const string SuccessSubject = "Successful Mail Delivery Report";

    public const string DelayedSubject = "Delayed Mail (still being retried)";

    /// <summary>A delay warning (RFC 3464 "delayed"): these recipients are still deferred and will be tried again.</summary>
    public static MimeMessage BuildDelayed(SpoolEnvelope original, ReadOnlySpan<byte> originalMessage, IReadOnlyList<BounceRecipient> recipients,
        string reportingMta, DateTimeOffset now, BounceRuleSet? categories = null) =>
        Build(original, originalMessage, recipients, reportingMta, now, "delayed", categories);

    public static MimeMessage Build(SpoolEnvelope original, ReadOnlySpan<byte> originalMessage, IReadOnlyList<BounceRecipient> recipients,
        string reportingMta, DateTimeOffset now, BounceRuleSet? categories = null) =>
        Build(original, originalMessage, recipients, reportingMta, now, "failed", categories);

    /// <summary>A success report (RFC 3461 §6.2.2 "relayed") for recipients handed to a next hop that does not support DSN.</summary>
    public static MimeMessage BuildRelayed(SpoolEnvelope original, ReadOnlySpan<byte> originalMessage, IReadOnlyList<BounceRecipient> recipients,
        string reportingMta, DateTimeOffset now) =>
        Build(original, originalMessage, recipients, reportingMta, now, "relayed", null);

    private static MimeMessage Build(SpoolEnvelope original, ReadOnlySpan<byte> originalMessage, IReadOnlyList<BounceRecipient> recipients,
        string reportingMta, DateTimeOffset now, string action, BounceRuleSet? categories)
    {
        if (original.Sender.Length == 0)
        {
            throw new ArgumentException("a message with a null sender is never bounced (RFC 5321 §4.5.5)", nameof(original));
        }

        var message = new MimeMessage();
        message.From.Add(new MailboxAddress("Mail Delivery System", $"MAILER-DAEMON@{reportingMta}"));
        message.To.Add(new MailboxAddress(string.Empty, original.Sender));
        message.Subject = action switch
        {
            "failed" => Subject,
            "delayed" => DelayedSubject,
            _ => SuccessSubject,
        };
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
        report.Add(new TextPart("plain")
        {
            Text = action switch
            {
                "failed" => Explanation(original, recipients, reportingMta, categories ?? BounceRulesFile.Defaults),
                "delayed" => DelayedExplanation(original, recipients, reportingMta, categories ?? BounceRulesFile.Defaults),
                _ => RelayedExplanation(original, recipients, reportingMta),
            },
        });

        var status = new MessageDeliveryStatus();
        var perMessage = new HeaderList
        {
            { "Reporting-MTA", $"dns; {reportingMta}" },
            { "X-AyTrack-Queue-ID", original.Id.Value },
            { "Arrival-Date", DateUtils.FormatDate(original.ReceivedAt) },
        };
        if (original.Dsn?.EnvelopeId is { } envelopeId)
        {
            // RFC 3464 §2.2.1: the sender's ENVID, as xtext, so it can match the report to what it sent.
            perMessage.Insert(0, new Header("Original-Envelope-Id", AyTrack.Core.Dsn.DsnParameters.EncodeXtext(envelopeId)));
        }

        status.StatusGroups.Add(perMessage);
        foreach (var recipient in recipients)
        {
            var group = new HeaderList();
            if (original.Dsn?.For(recipient.Recipient) is { OriginalRecipient: { } orcpt, OriginalRecipientType: { } orcptType })
            {
                // RFC 3464 §2.3.1: the ORCPT the sender gave, decoded.
                group.Add("Original-Recipient", $"{orcptType}; {orcpt}");
            }

            group.Add("Final-Recipient", $"rfc822; {recipient.Recipient}");
            group.Add("Action", action);
            group.Add("Status", recipient.Status);
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

        if (action is "failed" && original.Dsn?.Return == AyTrack.Core.Dsn.DsnReturn.Full)
        {
            // RET=FULL (RFC 3461 §4.3): the whole message back, as it was accepted.
            report.Add(new MessagePart("rfc822") { Message = MimeMessage.Load(new MemoryStream(originalMessage.ToArray())) });
        }
        else
        {
            var headerEnd = originalMessage.IndexOf("\r\n\r\n"u8);
            var headers = headerEnd < 0 ? originalMessage : originalMessage[..(headerEnd + 2)];
            var headersOnly = MimeMessage.Load(new MemoryStream([.. headers, (byte)'\r', (byte)'\n']));
            headersOnly.Body = null;
            report.Add(new TextRfc822Headers { Message = headersOnly });
        }

        message.Body = report;
        return message;
    }

    /// <summary>
    /// Queues a report to the original sender with the null reverse-path (RFC 5321 §4.5.5), through the spool like any
    /// other mail; returns its queue id.
    /// </summary>
    public static async Task<QueueId> QueueAsync(ISpool spool, SpoolEnvelope original, MimeMessage report, DateTimeOffset now)
    {
        var id = QueueId.New();
        await spool.AcceptAsync(new SpoolEnvelope(id, string.Empty, [EmailAddress.Parse(original.Sender)], now, false, $"<{report.MessageId}>"),
            ToBytes(report), CancellationToken.None);
        return id;
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

    private static string DelayedExplanation(SpoolEnvelope original, IReadOnlyList<BounceRecipient> recipients, string reportingMta,
        BounceRuleSet categories)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"This is the mail system at host {reportingMta}.\n\n");
        text.Append(CultureInfo.InvariantCulture, $"Your message of {DateUtils.FormatDate(original.ReceivedAt)} has not been delivered yet to the recipients\n");
        text.Append("below. Nothing needs to be done: delivery will be tried again, and you will be told if it is given up.\n\n");
        foreach (var recipient in recipients)
        {
            var category = categories.Classify(recipient.Diagnostic.Length > 0 ? recipient.Diagnostic : recipient.Status);
            text.Append(CultureInfo.InvariantCulture, $"<{recipient.Recipient}>: {Describe(category)} ({category}).\n    {recipient.Diagnostic}\n");
        }

        text.Append(CultureInfo.InvariantCulture, $"\nQueue ID: {original.Id.Value}\n");
        return text.ToString();
    }

    private static string RelayedExplanation(SpoolEnvelope original, IReadOnlyList<BounceRecipient> recipients, string reportingMta)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"This is the mail system at host {reportingMta}.\n\n");
        text.Append("You asked to be told when your message was delivered. It was handed to the next mail server for these\n");
        text.Append("recipients; that server does not report delivery further, so this is the last notice you will get:\n\n");
        foreach (var recipient in recipients)
        {
            text.Append(CultureInfo.InvariantCulture, $"<{recipient.Recipient}>: relayed to {recipient.RemoteMta}: {recipient.Diagnostic}\n");
        }

        text.Append(CultureInfo.InvariantCulture, $"\nQueue ID: {original.Id.Value}\n");
        return text.ToString();
    }

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
