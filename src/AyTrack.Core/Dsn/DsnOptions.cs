using System.Text;

namespace AyTrack.Core.Dsn;

/// <summary>RET (RFC 3461 §4.3): return the full message or only its headers in a failure DSN.</summary>
public enum DsnReturn
{
    Full,
    Headers,
}

/// <summary>NOTIFY (RFC 3461 §4.1): when the sender wants a DSN for a recipient.</summary>
[Flags]
public enum DsnNotify
{
    None = 0,
    Success = 1,
    Failure = 2,
    Delay = 4,
    Never = 8,
}

/// <summary>A recipient's DSN parameters as the client gave them: NOTIFY (null when absent) and ORCPT (type and decoded address).</summary>
public sealed record DsnRecipient(DsnNotify? Notify, string? OriginalRecipientType, string? OriginalRecipient)
{
    /// <summary>RFC 3461 §4.1: without NOTIFY, an MTA behaves as if NOTIFY=FAILURE,DELAY was given.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public DsnNotify Effective => Notify ?? (DsnNotify.Failure | DsnNotify.Delay);
}

/// <summary>
/// The DSN request of one message (RFC 3461): RET and ENVID from MAIL FROM, NOTIFY and ORCPT per recipient (by the
/// recipient's address as accepted). Kept with the message in the spool, passed on to next hops that support DSN, and
/// honoured by the DSNs AyTrack writes.
/// </summary>
public sealed record DsnOptions(DsnReturn? Return, string? EnvelopeId, IReadOnlyDictionary<string, DsnRecipient> Recipients)
{
    public static DsnOptions None { get; } = new(null, null, new Dictionary<string, DsnRecipient>());

    [System.Text.Json.Serialization.JsonIgnore]
    public bool IsEmpty => Return is null && EnvelopeId is null && Recipients.Count == 0;

    public DsnRecipient For(string recipient) =>
        Recipients.TryGetValue(recipient, out var options) ? options : new DsnRecipient(null, null, null);

    public bool Wants(string recipient, DsnNotify what) => (For(recipient).Effective & what) != 0;
}

/// <summary>The parameters' grammar (RFC 3461 §4), strict: anything else is a 501 5.5.4.</summary>
public static class DsnParameters
{
    /// <summary>RFC 3461 §4.4: ENVID is at most 100 characters (as xtext).</summary>
    public const int MaxEnvelopeId = 100;

    /// <summary>RFC 3461 §4.2: ORCPT is at most 500 characters.</summary>
    public const int MaxOriginalRecipient = 500;

    public static string? ParseReturn(string? value, out DsnReturn ret)
    {
        ret = DsnReturn.Headers;
        switch (value?.ToUpperInvariant())
        {
            case "FULL":
                ret = DsnReturn.Full;
                return null;
            case "HDRS":
                ret = DsnReturn.Headers;
                return null;
            default:
                return "expected RET=FULL or RET=HDRS";
        }
    }

    public static string? ParseEnvelopeId(string? value, out string envelopeId)
    {
        envelopeId = string.Empty;
        if (value is null || value.Length is 0 or > MaxEnvelopeId)
        {
            return $"expected ENVID=xtext of 1 to {MaxEnvelopeId} characters";
        }

        return TryDecodeXtext(value, out envelopeId) ? null : "ENVID is not valid xtext (RFC 3461 §4)";
    }

    public static string? ParseNotify(string? value, out DsnNotify notify)
    {
        notify = DsnNotify.None;
        if (value is null)
        {
            return "expected NOTIFY=NEVER or a list of SUCCESS, FAILURE, DELAY";
        }

        foreach (var item in value.Split(','))
        {
            var flag = item.ToUpperInvariant() switch
            {
                "SUCCESS" => DsnNotify.Success,
                "FAILURE" => DsnNotify.Failure,
                "DELAY" => DsnNotify.Delay,
                "NEVER" => DsnNotify.Never,
                _ => DsnNotify.None,
            };
            if (flag == DsnNotify.None || (notify & flag) != 0)
            {
                return "expected NOTIFY=NEVER or a list of SUCCESS, FAILURE, DELAY (each once)";
            }

            notify |= flag;
        }

        // RFC 3461 §4.1: NEVER stands alone.
        return (notify & DsnNotify.Never) != 0 && notify != DsnNotify.Never ? "NEVER cannot be combined with other values" : null;
    }

    public static string? ParseOriginalRecipient(string? value, out string type, out string address)
    {
        type = address = string.Empty;
        if (value is null || value.Length > MaxOriginalRecipient)
        {
            return $"expected ORCPT=addr-type;xtext of at most {MaxOriginalRecipient} characters";
        }

        var semicolon = value.IndexOf(';');
        if (semicolon <= 0 || !value[..semicolon].All(c => char.IsAsciiLetterOrDigit(c) || c == '-'))
        {
            return "expected ORCPT=addr-type;xtext such as rfc822;user+40example.com";
        }

        type = value[..semicolon].ToLowerInvariant();
        return semicolon < value.Length - 1 && TryDecodeXtext(value[(semicolon + 1)..], out address)
            ? null
            : "ORCPT's address is not valid xtext (RFC 3461 §4)";
    }

    /// <summary>xtext (RFC 3461 §4): "!" to "~" except "+" and "=", and "+XX" for any octet (upper-case hex).</summary>
    public static bool TryDecodeXtext(string text, out string decoded)
    {
        decoded = string.Empty;
        var bytes = new List<byte>(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '+')
            {
                if (i + 2 >= text.Length || !IsUpperHex(text[i + 1]) || !IsUpperHex(text[i + 2]))
                {
                    return false;
                }

                bytes.Add(Convert.ToByte(text.Substring(i + 1, 2), 16));
                i += 2;
            }
            else if (c is >= '!' and <= '~' and not '=')
            {
                bytes.Add((byte)c);
            }
            else
            {
                return false;
            }
        }

        decoded = Encoding.UTF8.GetString(bytes.ToArray());
        return true;
    }

    public static string EncodeXtext(string text)
    {
        var builder = new StringBuilder();
        foreach (var b in Encoding.UTF8.GetBytes(text))
        {
            builder.Append(b is >= (byte)'!' and <= (byte)'~' and not (byte)'+' and not (byte)'=' ? ((char)b).ToString() : $"+{b:X2}");
        }

        return builder.ToString();
    }

    private static bool IsUpperHex(char c) => c is >= '0' and <= '9' or >= 'A' and <= 'F';
}
