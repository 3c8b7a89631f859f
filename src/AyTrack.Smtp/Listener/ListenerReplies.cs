using SmtpServer.Protocol;

namespace AyTrack.Smtp.Listener;

/// <summary>
/// Every reply the listener itself decides, with its RFC 3463 enhanced code, in one place. (The library's own
/// replies carry no enhanced codes, so ENHANCEDSTATUSCODES is not advertised; these carry them anyway, which
/// RFC 2034 permits and clients and operators find useful.)
/// </summary>
public static class ListenerReplies
{
    public static SmtpResponse RelayDenied(string peer) =>
        new((SmtpReplyCode)554, $"5.7.1 Relay access denied: {peer} is not in AyTrack:Listener:AllowedNetworks");

    public static SmtpResponse BadSender(string reason) => new((SmtpReplyCode)553, $"5.1.7 Bad sender address: {reason}");

    public static SmtpResponse BadRecipient(string reason) => new((SmtpReplyCode)553, $"5.1.3 Bad recipient address: {reason}");

    public static SmtpResponse TooManyRecipients(int max) => new((SmtpReplyCode)452, $"4.5.3 Too many recipients (at most {max} per message)");

    public static SmtpResponse TooBig(int max) => new((SmtpReplyCode)552, $"5.3.4 Message size exceeds the limit of {max} bytes");

    public static SmtpResponse BareLineEnding { get; } =
        new((SmtpReplyCode)550, "5.5.2 Message refused: bare CR or LF in data (only CRLF line endings are allowed)");

    public static SmtpResponse Utf8NotAnnounced { get; } =
        new((SmtpReplyCode)553, "5.6.7 Non-ASCII address given without the SMTPUTF8 parameter");

    public static SmtpResponse Queued(string id) => new(SmtpReplyCode.Ok, $"2.0.0 Ok: queued as {id}");

    public static SmtpResponse TemporaryFailure { get; } =
        new((SmtpReplyCode)451, "4.3.0 Message not queued: temporary storage failure, please try again later");

    public static SmtpResponse ShuttingDown { get; } = new((SmtpReplyCode)421, "4.3.2 Service shutting down, try again later");
}
