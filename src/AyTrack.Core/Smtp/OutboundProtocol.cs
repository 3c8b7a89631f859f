using System.Globalization;
using System.Text;
using AyTrack.Core.Delivery;
using AyTrack.Core.Dsn;

namespace AyTrack.Core.Smtp;

/// <summary>The service extensions of a receiving server (RFC 5321 §4.1.1.1) that outbound delivery acts on.</summary>
[Flags]
public enum SmtpExtensions
{
    None = 0,

    /// <summary>RFC 2920: MAIL, the RCPTs and DATA go out as one group.</summary>
    Pipelining = 1,

    /// <summary>RFC 6152: BODY=8BITMIME.</summary>
    EightBitMime = 2,

    /// <summary>RFC 6531.</summary>
    SmtpUtf8 = 4,

    /// <summary>RFC 3461: RET, ENVID, NOTIFY, ORCPT.</summary>
    Dsn = 8,

    /// <summary>RFC 1870.</summary>
    Size = 16,

    /// <summary>RFC 3207.</summary>
    StartTls = 32,

    /// <summary>RFC 4954.</summary>
    Auth = 64,

    /// <summary>RFC 2034.</summary>
    EnhancedStatusCodes = 128,
}

/// <summary>What a server's EHLO reply offers.</summary>
public sealed record EhloOffer(SmtpExtensions Extensions, long MaxSize, IReadOnlyList<string> AuthMechanisms)
{
    public static EhloOffer Nothing { get; } = new(SmtpExtensions.None, 0, []);

    /// <summary>
    /// Reads the keyword lines of an EHLO reply (every line after the greeting line). Unknown keywords are ignored;
    /// "AUTH=" is the old spelling some servers still send.
    /// </summary>
    public static EhloOffer Parse(IEnumerable<string> lines)
    {
        var extensions = SmtpExtensions.None;
        long maxSize = 0;
        var mechanisms = new List<string>();
        foreach (var line in lines)
        {
            var parts = line.Split([' ', '='], StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 0)
            {
                continue;
            }

            switch (parts[0].ToUpperInvariant())
            {
                case "PIPELINING":
                    extensions |= SmtpExtensions.Pipelining;
                    break;
                case "8BITMIME":
                    extensions |= SmtpExtensions.EightBitMime;
                    break;
                case "SMTPUTF8":
                    extensions |= SmtpExtensions.SmtpUtf8;
                    break;
                case "DSN":
                    extensions |= SmtpExtensions.Dsn;
                    break;
                case "STARTTLS":
                    extensions |= SmtpExtensions.StartTls;
                    break;
                case "ENHANCEDSTATUSCODES":
                    extensions |= SmtpExtensions.EnhancedStatusCodes;
                    break;
                case "SIZE":
                    extensions |= SmtpExtensions.Size;
                    // RFC 1870 §4: no number, or 0, means no fixed limit.
                    if (parts.Length > 1 && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var size))
                    {
                        maxSize = size;
                    }

                    break;
                case "AUTH":
                    extensions |= SmtpExtensions.Auth;
                    foreach (var mechanism in parts.Skip(1))
                    {
                        var name = mechanism.ToUpperInvariant();
                        if (!mechanisms.Contains(name))
                        {
                            mechanisms.Add(name);
                        }
                    }

                    break;
            }
        }

        return new EhloOffer(extensions, maxSize, mechanisms);
    }

    public bool Has(SmtpExtensions extension) => (Extensions & extension) == extension;
}

/// <summary>One reply of a server (RFC 5321 §4.2): its code and its text, lines joined with "\n".</summary>
public readonly record struct ServerReply(int Code, string Text)
{
    public bool Positive => Code is >= 200 and < 300;

    public SmtpReply ToReply() => SmtpReply.From(Code, Text);

    public override string ToString() => $"{Code} {Text}";

    /// <summary>
    /// One reply line without its CRLF: three digits whose first is 2 to 5 (RFC 5321 §4.2), then a space, a hyphen
    /// (more lines follow) or nothing. Anything else is a protocol violation, not a reply.
    /// </summary>
    public static bool TryParseLine(ReadOnlySpan<byte> line, out int code, out bool last, out string text)
    {
        code = 0;
        last = true;
        text = string.Empty;
        if (line.Length < 3 || line[0] is < (byte)'2' or > (byte)'5' || !char.IsAsciiDigit((char)line[1]) || !char.IsAsciiDigit((char)line[2]))
        {
            return false;
        }

        code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
        if (line.Length == 3)
        {
            return true;
        }

        if (line[3] is not ((byte)' ' or (byte)'-'))
        {
            return false;
        }

        last = line[3] == (byte)' ';
        text = Encoding.UTF8.GetString(line[4..]);
        return true;
    }
}

/// <summary>The commands of an outbound mail transaction, built from what was accepted and what the server offers.</summary>
public static class OutboundCommands
{
    /// <summary>
    /// MAIL FROM with the parameters this message needs and the server understands: SIZE (RFC 1870), BODY=8BITMIME
    /// for 8-bit content (RFC 6152), SMTPUTF8 (RFC 6531), and the sender's RET and ENVID (RFC 3461 §4.3, §4.4),
    /// passed on unchanged when the server supports DSN.
    /// </summary>
    public static string MailFrom(string sender, EhloOffer offer, long size, bool eightBit, bool smtpUtf8, DsnOptions? dsn)
    {
        CheckPath(sender);
        var command = new StringBuilder("MAIL FROM:<").Append(sender).Append('>');
        if (offer.Has(SmtpExtensions.Size))
        {
            command.Append(" SIZE=").Append(size.ToString(CultureInfo.InvariantCulture));
        }

        if (eightBit && offer.Has(SmtpExtensions.EightBitMime))
        {
            command.Append(" BODY=8BITMIME");
        }

        if (smtpUtf8)
        {
            command.Append(" SMTPUTF8");
        }

        if (dsn is not null && offer.Has(SmtpExtensions.Dsn))
        {
            if (dsn.Return is { } ret)
            {
                command.Append(" RET=").Append(ret == DsnReturn.Full ? "FULL" : "HDRS");
            }

            if (dsn.EnvelopeId is { } envelopeId)
            {
                command.Append(" ENVID=").Append(DsnParameters.EncodeXtext(envelopeId));
            }
        }

        return command.ToString();
    }

    /// <summary>
    /// RCPT TO with the sender's NOTIFY and ORCPT for this recipient (RFC 3461 §4.1, §4.2), passed on unchanged when
    /// the server supports DSN; ORCPT keeps the address type the client gave.
    /// </summary>
    public static string RcptTo(string recipient, EhloOffer offer, DsnOptions? dsn)
    {
        CheckPath(recipient);
        var command = new StringBuilder("RCPT TO:<").Append(recipient).Append('>');
        if (dsn is not null && offer.Has(SmtpExtensions.Dsn) && dsn.Recipients.TryGetValue(recipient, out var options))
        {
            if (options.Notify is { } notify)
            {
                command.Append(" NOTIFY=").Append(notify == DsnNotify.Never
                    ? "NEVER"
                    : string.Join(',', new[] { (DsnNotify.Success, "SUCCESS"), (DsnNotify.Failure, "FAILURE"), (DsnNotify.Delay, "DELAY") }
                        .Where(f => (notify & f.Item1) != 0).Select(f => f.Item2)));
            }

            if (options is { OriginalRecipientType: { } type, OriginalRecipient: { } original })
            {
                command.Append(" ORCPT=").Append(type).Append(';').Append(DsnParameters.EncodeXtext(original));
            }
        }

        return command.ToString();
    }

    /// <summary>
    /// Addresses were checked when the message was accepted; this keeps a damaged or forged envelope from ever
    /// writing a second command onto the wire.
    /// </summary>
    private static void CheckPath(string address)
    {
        // Only control characters can end a command line early; "<" and ">" are legal inside a quoted local part.
        if (address.AsSpan().IndexOfAnyInRange('\0', '\u001f') >= 0 || address.Contains('\u007f'))
        {
            throw new ArgumentException("The address contains characters no SMTP path may contain", nameof(address));
        }
    }
}

/// <summary>
/// The message data of a transaction (RFC 5321 §4.5.2 and §2.3.8) from the bytes as they were accepted: every line
/// ends in CRLF, a line beginning with "." gets one more, and the data ends with "." on a line of its own. The bytes
/// are otherwise sent unchanged (a relay does not rewrite content; a DKIM signature stays valid).
/// </summary>
public static class SmtpData
{
    private static readonly ReadOnlyMemory<byte> Dot = "."u8.ToArray();
    private static readonly ReadOnlyMemory<byte> CrLf = "\r\n"u8.ToArray();
    private static readonly ReadOnlyMemory<byte> End = ".\r\n"u8.ToArray();

    /// <summary>True when the body has a byte outside US-ASCII (it needs BODY=8BITMIME, RFC 6152 §3).</summary>
    public static bool IsEightBit(ReadOnlySpan<byte> body) => body.IndexOfAnyInRange((byte)0x80, (byte)0xff) >= 0;

    /// <summary>
    /// The data as consecutive pieces of the body and the few bytes added to it, so a large message is written out
    /// as it is read, without a second copy. Runs of lines that need nothing are one piece.
    /// </summary>
    public static IEnumerable<ReadOnlyMemory<byte>> Pieces(ReadOnlyMemory<byte> body)
    {
        var start = 0;
        var position = 0;
        if (!body.IsEmpty && body.Span[0] == (byte)'.')
        {
            yield return Dot;
        }

        while (true)
        {
            var lf = body.Span[position..].IndexOf((byte)'\n');
            if (lf < 0)
            {
                break;
            }

            lf += position;
            var bare = lf == 0 || body.Span[lf - 1] != (byte)'\r';
            var dotNext = lf + 1 < body.Length && body.Span[lf + 1] == (byte)'.';
            position = lf + 1;
            if (bare)
            {
                // A bare LF becomes CRLF (the stored data is canonical already; this keeps the wire right if not).
                yield return body[start..lf];
                yield return CrLf;
                start = lf + 1;
            }

            if (dotNext)
            {
                yield return body[start..position];
                yield return Dot;
                start = position;
            }
        }

        if (start < body.Length)
        {
            yield return body[start..];
        }

        if (!body.IsEmpty && body.Span[^1] != (byte)'\n')
        {
            yield return CrLf;
        }

        yield return End;
    }
}
