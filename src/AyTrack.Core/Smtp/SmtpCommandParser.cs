using System.Text;
using AyTrack.Core.Delivery;

namespace AyTrack.Core.Smtp;

/// <summary>One ESMTP parameter of MAIL or RCPT (RFC 5321 §4.1.2 esmtp-param), as the client sent it.</summary>
public sealed record EsmtpParameter(string Keyword, string? Value);

/// <summary>
/// A parsed MAIL FROM or RCPT TO: the mailbox between the angle brackets ("" for the null reverse-path &lt;&gt;,
/// "postmaster" for RCPT TO:&lt;postmaster&gt;) and every parameter, in order, for the extensions that read them.
/// </summary>
public sealed record PathCommand(string Mailbox, IReadOnlyList<EsmtpParameter> Parameters)
{
    public string? Parameter(string keyword) =>
        Parameters.FirstOrDefault(p => p.Keyword.Equals(keyword, StringComparison.OrdinalIgnoreCase))?.Value;

    public bool Has(string keyword) => Parameters.Any(p => p.Keyword.Equals(keyword, StringComparison.OrdinalIgnoreCase));
}

/// <summary>
/// The listener's command grammar (RFC 5321 §4.1.1–4.1.2, with RFC 6531's UTF-8 in addresses), strict where a
/// mistake would change meaning and lenient only where every deployed MTA is (a space after "FROM:"). Pure: it sees
/// one command line, already bounded in length, and returns what it means or the reply that refuses it.
/// </summary>
public static class SmtpCommandParser
{
    /// <summary>Splits "VERB argument" at the first space; the verb upper-cased.</summary>
    public static (string Verb, string Argument) Split(string line)
    {
        var space = line.IndexOf(' ');
        return space < 0
            ? (line.ToUpperInvariant(), string.Empty)
            : (line[..space].ToUpperInvariant(), line[(space + 1)..]);
    }

    /// <summary>
    /// Parses the argument of MAIL ("FROM:&lt;path&gt; params") or RCPT ("TO:&lt;path&gt; params"). Parameters not in
    /// <paramref name="supported"/> get 555 5.5.4 (RFC 5321 §4.1.1.11: a parameter of an extension not advertised);
    /// a malformed or repeated one 501 5.5.4.
    /// </summary>
    public static bool TryParsePath(string argument, bool isMail, IReadOnlySet<string> supported, out PathCommand command, out SmtpReply error)
    {
        command = null!;
        var syntax = isMail
            ? new SmtpReply(501, "5.1.7", "Syntax error in MAIL FROM address (expected MAIL FROM:<local@domain> or <>)")
            : new SmtpReply(501, "5.1.3", "Syntax error in RCPT TO address (expected RCPT TO:<local@domain>)");
        error = syntax;

        var prefix = isMail ? "FROM:" : "TO:";
        if (!argument.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        // RFC 5321 has no space after the colon, but clients send one and Postfix, Exim and Sendmail accept it.
        var rest = argument[prefix.Length..].TrimStart(' ');
        if (!rest.StartsWith('<'))
        {
            return false;
        }

        var close = FindClosingBracket(rest);
        if (close < 0)
        {
            return false;
        }

        var path = rest[1..close];
        var afterPath = rest[(close + 1)..];
        if (afterPath.Length > 0 && afterPath[0] != ' ')
        {
            return false;
        }

        if (!TryParseMailbox(path, isMail, out var mailbox))
        {
            return false;
        }

        if (!TryParseParameters(afterPath, isMail ? "MAIL" : "RCPT", supported, out var parameters, out error))
        {
            return false;
        }

        command = new PathCommand(mailbox, parameters);
        return true;
    }

    /// <summary>The angle-bracketed path's end, skipping a '>' inside a quoted local part.</summary>
    private static int FindClosingBracket(string text)
    {
        var quoted = false;
        for (var i = 1; i < text.Length; i++)
        {
            var c = text[i];
            if (quoted && c == '\\')
            {
                i++;
                continue;
            }

            if (c == '"')
            {
                quoted = !quoted;
            }
            else if (c == '>' && !quoted)
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>
    /// Path = "&lt;" [ A-d-l ":" ] Mailbox "&gt;" (RFC 5321 §4.1.2). A source route is accepted and ignored, as §C
    /// requires. The domain is checked only for its characters here; whether it can be delivered to (a label too long, an
    /// address literal) is the address parser's decision, which answers 553 rather than 501.
    /// </summary>
    private static bool TryParseMailbox(string path, bool isMail, out string mailbox)
    {
        mailbox = string.Empty;
        if (path.Length == 0)
        {
            return isMail;
        }

        if (path[0] == '@')
        {
            var colon = path.IndexOf(':');
            if (colon < 0)
            {
                return false;
            }

            path = path[(colon + 1)..];
        }

        if (!isMail && path.Equals("postmaster", StringComparison.OrdinalIgnoreCase))
        {
            mailbox = "postmaster";
            return true;
        }

        var at = path.LastIndexOf('@');
        if (at <= 0 || at == path.Length - 1)
        {
            return false;
        }

        var local = path[..at];
        var domain = path[(at + 1)..];
        if (!(IsDotString(local) || IsQuotedString(local)) || !IsDomainText(domain))
        {
            return false;
        }

        mailbox = path;
        return true;
    }

    // atext (RFC 5322 §3.2.3) and, for SMTPUTF8, any non-ASCII character (RFC 6531 §3.3 UTF8-non-ascii).
    private static bool IsAtext(char c) =>
        char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-/=?^_`{|}~".Contains(c) || (c > 127 && !char.IsControl(c) && !char.IsWhiteSpace(c));

    private static bool IsDotString(string local)
    {
        if (local.Length == 0 || local[0] == '.' || local[^1] == '.' || local.Contains(".."))
        {
            return false;
        }

        return local.All(c => c == '.' || IsAtext(c));
    }

    private static bool IsQuotedString(string local)
    {
        if (local.Length < 2 || local[0] != '"' || local[^1] != '"')
        {
            return false;
        }

        for (var i = 1; i < local.Length - 1; i++)
        {
            var c = local[i];
            if (c == '\\')
            {
                // quoted-pairSMTP = %d92 %d32-126
                if (i + 1 >= local.Length - 1 || local[i + 1] < 32 || local[i + 1] > 126)
                {
                    return false;
                }

                i++;
            }
            else if (c == '"' || c < 32 || c == 127)
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsDomainText(string domain)
    {
        if (domain.StartsWith('['))
        {
            return domain.EndsWith(']') && domain.Length > 2 && domain[1..^1].All(c => c is > ' ' and < (char)127 and not '[' and not ']' and not '\\');
        }

        return domain.Split('.').All(label => label.Length > 0 &&
            label.All(c => char.IsAsciiLetterOrDigit(c) || c == '-' || (c > 127 && !char.IsControl(c) && !char.IsWhiteSpace(c))));
    }

    private static bool TryParseParameters(string text, string verb, IReadOnlySet<string> supported, out List<EsmtpParameter> parameters, out SmtpReply error)
    {
        parameters = [];
        error = null!;
        foreach (var item in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var equals = item.IndexOf('=');
            var keyword = equals < 0 ? item : item[..equals];
            var value = equals < 0 ? null : item[(equals + 1)..];

            // esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-"); esmtp-value = 1*(%d33-60 / %d62-126), UTF-8 allowed
            // by RFC 6531 §3.3.
            if (keyword.Length == 0 || !char.IsAsciiLetterOrDigit(keyword[0]) || !keyword.All(c => char.IsAsciiLetterOrDigit(c) || c == '-') ||
                (value is not null && (value.Length == 0 || value.Any(c => c is < '!' or '=' or (char)127))))
            {
                error = new SmtpReply(501, "5.5.4", $"Syntax error in {verb} parameter '{Printable(item)}'");
                return false;
            }

            var upper = keyword.ToUpperInvariant();
            if (!supported.Contains(upper))
            {
                error = new SmtpReply(555, "5.5.4", $"{verb} parameter {Printable(keyword)} is not recognized or not supported");
                return false;
            }

            if (parameters.Any(p => p.Keyword == upper))
            {
                error = new SmtpReply(501, "5.5.4", $"{verb} parameter {upper} given more than once");
                return false;
            }

            if (ValueProblem(upper, value) is { } problem)
            {
                error = new SmtpReply(501, "5.5.4", $"{verb} parameter {upper}: {problem}");
                return false;
            }

            parameters.Add(new EsmtpParameter(upper, value));
        }

        return true;
    }

    /// <summary>The values this listener checks itself; the later extensions (AUTH, DSN) check their own.</summary>
    private static string? ValueProblem(string keyword, string? value) => keyword switch
    {
        // RFC 1870 §3: size-value = 1*20DIGIT
        "SIZE" => value is { Length: > 0 and <= 20 } && value.All(char.IsAsciiDigit) ? null : "expected a number of octets (SIZE=12345)",
        // RFC 6152: 7BIT or 8BITMIME
        "BODY" => value is not null && (value.Equals("7BIT", StringComparison.OrdinalIgnoreCase) || value.Equals("8BITMIME", StringComparison.OrdinalIgnoreCase))
            ? null
            : "expected BODY=7BIT or BODY=8BITMIME",
        // RFC 6531 §3.4: SMTPUTF8 takes no value
        "SMTPUTF8" => value is null ? null : "takes no value",
        // RFC 3461 §4: the DSN extension's parameters
        "RET" => Dsn.DsnParameters.ParseReturn(value, out _),
        "ENVID" => Dsn.DsnParameters.ParseEnvelopeId(value, out _),
        "NOTIFY" => Dsn.DsnParameters.ParseNotify(value, out _),
        "ORCPT" => Dsn.DsnParameters.ParseOriginalRecipient(value, out _, out _),
        // RFC 4954 §5: AUTH=<> or AUTH=xtext(mailbox). Accepted and not trusted: the submitter is who authenticated.
        "AUTH" => value == "<>" || value is { Length: > 0 and <= 500 } && Dsn.DsnParameters.TryDecodeXtext(value, out _)
            ? null
            : "expected AUTH=<> or AUTH=xtext-encoded mailbox",
        _ => null,
    };

    /// <summary>Client text quoted in a reply: printable ASCII only, bounded, so a reply can never carry control bytes.</summary>
    public static string Printable(string text)
    {
        var builder = new StringBuilder(Math.Min(text.Length, 64));
        foreach (var c in text.Take(64))
        {
            builder.Append(c is >= ' ' and < (char)127 ? c : '?');
        }

        return builder.ToString();
    }
}
