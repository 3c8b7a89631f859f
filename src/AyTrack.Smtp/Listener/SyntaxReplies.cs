using System.Reflection;
using System.Text;
using SmtpServer.Protocol;

namespace AyTrack.Smtp.Listener;

/// <summary>
/// Corrects one reply of the SmtpServer library: when a MAIL or RCPT command's address does not parse, its parser
/// moves on to the next grammar rule and ends with "502 Unrecognized command", which tells a client the command
/// does not exist. RFC 5321 §4.2.4 wants 501 (syntax error in parameters), so this rewrites that exception's
/// response before the session writes it. The library offers no hook to replace its parser, hence the reflection on
/// the one exception instance; a test pins the behaviour so a library upgrade that changes it is noticed.
/// </summary>
internal static class SyntaxReplies
{
    private const string BufferKey = "SmtpSession:Buffer";

    private static readonly FieldInfo? ResponseField = typeof(SmtpResponseException)
        .GetField("<Response>k__BackingField", BindingFlags.Instance | BindingFlags.NonPublic);

    public static void Correct(SmtpResponseException exception)
    {
        if (exception.Response.ReplyCode != SmtpReplyCode.CommandNotImplemented ||
            !exception.Properties.TryGetValue(BufferKey, out var raw) || raw is not byte[] bytes || ResponseField is null)
        {
            return;
        }

        var line = Encoding.UTF8.GetString(bytes).TrimStart();
        var replacement = line.StartsWith("MAIL", StringComparison.OrdinalIgnoreCase)
            ? new SmtpResponse(SmtpReplyCode.SyntaxError, "5.1.7 Syntax error in MAIL FROM address (expected MAIL FROM:<local@domain> or <>)")
            : line.StartsWith("RCPT", StringComparison.OrdinalIgnoreCase)
                ? new SmtpResponse(SmtpReplyCode.SyntaxError, "5.1.3 Syntax error in RCPT TO address (expected RCPT TO:<local@domain>)")
                : null;
        if (replacement is not null)
        {
            ResponseField.SetValue(exception, replacement);
        }
    }
}
