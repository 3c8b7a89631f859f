using SmtpServer;
using SmtpServer.Protocol;

namespace AyTrack.Smtp.Listener;

/// <summary>
/// What the listener needs to remember about a session that the library keeps internal: the HELO name, whether
/// MAIL FROM asked for SMTPUTF8, and how many recipients the current transaction has.
/// </summary>
internal sealed class SessionState
{
    private const string Key = "AyTrack:Session";

    public string Helo { get; private set; } = "unknown";

    public bool SmtpUtf8 { get; private set; }

    public int RecipientCount { get; set; }

    /// <summary>Between an accepted MAIL FROM and the reply to its data (or RSET): a graceful stop waits for this.</summary>
    public bool InTransaction { get; set; }

    public static SessionState Of(ISessionContext context)
    {
        if (context.Properties.TryGetValue(Key, out var existing) && existing is SessionState state)
        {
            return state;
        }

        state = new SessionState();
        context.Properties[Key] = state;
        return state;
    }

    /// <summary>Follows the commands of a new session; called once per session.</summary>
    public static void Track(ISessionContext context)
    {
        var state = Of(context);
        context.ResponseException += (_, e) => SyntaxReplies.Correct(e.Exception);
        context.CommandExecuting += (_, e) =>
        {
            switch (e.Command)
            {
                case EhloCommand ehlo:
                    state.Helo = ehlo.DomainOrAddress;
                    state.Reset();
                    break;
                case HeloCommand helo:
                    state.Helo = helo.DomainOrAddress;
                    state.Reset();
                    break;
                case MailCommand mail:
                    state.Reset();
                    state.InTransaction = true;
                    state.SmtpUtf8 = mail.Parameters.Keys.Any(k => k.Equals("SMTPUTF8", StringComparison.OrdinalIgnoreCase));
                    break;
                case RsetCommand:
                    state.Reset();
                    break;
            }
        };
    }

    private void Reset()
    {
        RecipientCount = 0;
        SmtpUtf8 = false;
        InTransaction = false;
    }
}
