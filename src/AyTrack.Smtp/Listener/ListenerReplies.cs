using AyTrack.Core.Delivery;

namespace AyTrack.Smtp.Listener;

/// <summary>
/// Every reply the listener sends, with its RFC 3463 enhanced code (RFC 2034: advertised as ENHANCEDSTATUSCODES), in
/// one place; docs/security.md lists the limits' replies.
/// </summary>
public static class ListenerReplies
{
    public static SmtpReply Greeting(string serverName) => new(220, null, $"{serverName} ESMTP AyTrack");

    public static SmtpReply ShuttingDownGreeting(string serverName) => new(421, "4.3.2", $"{serverName} is shutting down, try again later");

    public static SmtpReply ShuttingDown { get; } = new(421, "4.3.2", "Service shutting down, try again later");

    public static SmtpReply TooManyConnections { get; } = new(421, "4.7.0", "Too many connections, try again later");

    public static SmtpReply TooManyErrors { get; } = new(421, "4.7.0", "Too many errors, closing the connection");

    public static SmtpReply Timeout { get; } = new(421, "4.4.2", "Timeout, closing the connection");

    public static SmtpReply BadProxyHeader(string reason) => new(421, "4.7.0", $"Invalid PROXY protocol header: {reason}");

    public static SmtpReply LineTooLong(int max) => new(500, "5.5.2", $"Line too long (at most {max} octets per command)");

    public static SmtpReply BareLineFeedInCommand { get; } = new(500, "5.5.2", "Syntax error: a command must end with CRLF");

    public static SmtpReply BadCommandBytes { get; } = new(500, "5.5.2", "Syntax error: control characters or invalid UTF-8 in the command");

    public static SmtpReply UnknownCommand { get; } = new(500, "5.5.1", "Command unrecognized");

    public static SmtpReply NotImplemented { get; } = new(502, "5.5.1", "Command not implemented");

    public static SmtpReply BadSequence(string what) => new(503, "5.5.1", what);

    public static SmtpReply NoArgumentsAllowed(string verb) => new(501, "5.5.4", $"Syntax error: {verb} takes no arguments");

    public static SmtpReply HeloNeedsDomain(string verb) => new(501, "5.5.4", $"Syntax error: {verb} requires a domain name or address literal");

    public static SmtpReply Ok { get; } = new(250, "2.0.0", "Ok");

    public static SmtpReply SenderOk { get; } = new(250, "2.1.0", "Ok");

    public static SmtpReply RecipientOk { get; } = new(250, "2.1.5", "Ok");

    public static SmtpReply StartData { get; } = new(354, null, "End data with <CR><LF>.<CR><LF>");

    public static SmtpReply Bye { get; } = new(221, "2.0.0", "Bye");

    public static SmtpReply CannotVerify { get; } = new(252, "2.5.0", "Cannot VRFY user, but will accept the message and attempt delivery");

    public static SmtpReply Help { get; } = new(214, "2.0.0", "Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP; see RFC 5321");

    public static SmtpReply RelayDenied(string peer) =>
        new(554, "5.7.1", $"Relay access denied: {peer} is not in AyTrack:Listener:AllowedNetworks");

    public static SmtpReply BadSender(string reason) => new(553, "5.1.7", $"Bad sender address: {reason}");

    public static SmtpReply BadRecipient(string reason) => new(553, "5.1.3", $"Bad recipient address: {reason}");

    public static SmtpReply TooManyRecipients(int max) => new(452, "4.5.3", $"Too many recipients (at most {max} per message)");

    public static SmtpReply NoValidRecipients { get; } = new(554, "5.5.1", "No valid recipients");

    public static SmtpReply TooBig(int max) => new(552, "5.3.4", $"Message size exceeds the limit of {max} bytes");

    public static SmtpReply BareLineEnding { get; } =
        new(550, "5.5.2", "Message refused: bare CR or LF in data (only CRLF line endings are allowed)");

    public static SmtpReply LineTooLongInData { get; } =
        new(550, "5.6.0", "Message refused: a line is longer than 998 octets (RFC 5322 section 2.1.1); wrap it or use a MIME encoding");

    public static SmtpReply Utf8NotAnnounced { get; } = new(553, "5.6.7", "Non-ASCII address given without the SMTPUTF8 parameter");

    public static SmtpReply Queued(string id) => new(250, "2.0.0", $"Ok: queued as {id}");

    public static SmtpReply InsufficientStorage { get; } =
        new(452, "4.3.1", "Message not queued: insufficient system storage, please try again later");

    public static SmtpReply TemporaryFailure { get; } =
        new(451, "4.3.0", "Message not queued: temporary storage failure, please try again later");

    // STARTTLS (RFC 3207) and AUTH (RFC 4954).
    public static SmtpReply ReadyForTls { get; } = new(220, "2.0.0", "Ready to start TLS");

    public static SmtpReply TlsNotAvailable { get; } = new(454, "4.7.0", "TLS not available: no certificate can be loaded");

    public static SmtpReply TlsFirst { get; } = new(530, "5.7.0", "Must issue a STARTTLS command first");

    public static SmtpReply AuthenticationRequired { get; } = new(530, "5.7.0", "Authentication required");

    public static SmtpReply AuthenticationSucceeded { get; } = new(235, "2.7.0", "Authentication successful");

    public static SmtpReply AuthenticationFailed { get; } = new(535, "5.7.8", "Authentication credentials invalid");

    public static SmtpReply AuthenticationBusy { get; } = new(454, "4.7.0", "Temporary authentication failure, try again later");

    public static SmtpReply AuthenticationCancelled { get; } = new(501, "5.0.0", "Authentication cancelled");

    public static SmtpReply UnknownMechanism { get; } = new(504, "5.5.4", "Unrecognized authentication mechanism (PLAIN and LOGIN are offered)");

    public static SmtpReply AuthLineTooLong { get; } = new(500, "5.5.6", "Authentication exchange line is too long");

    public static SmtpReply BadAuthResponse(string what) => new(501, "5.5.2", $"Cannot decode the response: {what}");

    public static SmtpReply TooManyAuthFailures { get; } =
        new(421, "4.7.0", "Too many failed authentications from your address, try again in a minute");

    public static SmtpReply SenderNotAllowed(string sender) => new(553, "5.7.1", $"Sender address <{sender}> is not allowed for this login");
}
