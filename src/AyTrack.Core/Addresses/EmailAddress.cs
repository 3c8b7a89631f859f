using System.Text;

namespace AyTrack.Core.Addresses;

/// <summary>
/// An envelope address (RFC 5321 §4.1.2 Mailbox). The local part is kept exactly as given: RFC 5321 §2.4 makes it
/// case-sensitive and only the receiving host may interpret it. The domain is canonical.
/// </summary>
public sealed record EmailAddress(string LocalPart, RecipientDomain Domain)
{
    /// <summary>True when the local part needs SMTPUTF8 (RFC 6531) to be transmitted.</summary>
    public bool IsInternational => LocalPart.Any(c => c > 127);

    public string Address => $"{LocalPart}@{Domain.Value}";

    public override string ToString() => Address;

    public static EmailAddress Parse(string value) =>
        TryParse(value, out var address, out var error) ? address : throw new FormatException(error);

    /// <summary>
    /// Parses "local@domain". The local part must be a dot-string or a quoted string (RFC 5321 §4.1.2), at most 64
    /// octets (§4.5.3.1.1); the whole path at most 254 characters (§4.5.3.1.3 minus the brackets).
    /// </summary>
    public static bool TryParse(string? value, out EmailAddress address, out string error)
    {
        address = null!;
        var text = value?.Trim() ?? string.Empty;
        if (text.StartsWith('<') && text.EndsWith('>'))
        {
            text = text[1..^1];
        }

        var at = text.LastIndexOf('@');
        if (at <= 0 || at == text.Length - 1)
        {
            error = $"'{value}' is not an address of the form local-part@domain";
            return false;
        }

        var local = text[..at];
        if (Encoding.UTF8.GetByteCount(local) > 64)
        {
            error = "the local part is longer than 64 octets";
            return false;
        }

        if (!IsValidLocalPart(local))
        {
            error = $"the local part '{local}' is not valid";
            return false;
        }

        if (!DomainName.TryNormalize(text[(at + 1)..], out var domain, out error))
        {
            return false;
        }

        if (local.Length + 1 + domain.Length > 254)
        {
            error = "the address is longer than 254 characters";
            return false;
        }

        address = new EmailAddress(local, new RecipientDomain(domain));
        return true;
    }

    private static bool IsValidLocalPart(string local)
    {
        if (local.Length >= 2 && local[0] == '"' && local[^1] == '"')
        {
            // Quoted-string: any printable character, with backslash escapes; no bare CR or LF.
            return local.All(c => c >= 32 && c != 127);
        }

        if (local.StartsWith('.') || local.EndsWith('.') || local.Contains(".."))
        {
            return false;
        }

        // Dot-atom characters (RFC 5322 atext) plus UTF-8 (RFC 6531 §3.3).
        const string specials = "!#$%&'*+-/=?^_`{|}~.";
        return local.All(c => char.IsAsciiLetterOrDigit(c) || specials.Contains(c) || c > 127);
    }
}
