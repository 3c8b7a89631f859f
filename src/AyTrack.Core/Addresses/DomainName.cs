using System.Globalization;

namespace AyTrack.Core.Addresses;

/// <summary>Domain name normalisation and syntax checks (RFC 5321 §4.1.2, RFC 5890 for IDNA).</summary>
public static class DomainName
{
    private static readonly IdnMapping Idn = new() { AllowUnassigned = false, UseStd3AsciiRules = true };

    /// <summary>
    /// Turns a domain as a client wrote it into its canonical A-label form. Refuses address literals, single labels
    /// and anything that is not a valid host name, because none of them can be resolved to an MX.
    /// </summary>
    public static bool TryNormalize(string? input, out string normalized, out string error)
    {
        normalized = string.Empty;
        var value = input?.Trim() ?? string.Empty;
        if (value.EndsWith('.'))
        {
            value = value[..^1];
        }

        if (value.Length == 0)
        {
            error = "the domain is empty";
            return false;
        }

        if (value.StartsWith('['))
        {
            error = "address literals are not accepted as recipient domains";
            return false;
        }

        // RFC 1035 §2.3.4: 255 octets on the wire, i.e. 253 characters in text form (checked again after IDNA).
        if (value.Length > 253)
        {
            error = "the domain is longer than 253 characters";
            return false;
        }

        string ascii;
        if (value.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.') && !value.Contains("xn--", StringComparison.OrdinalIgnoreCase))
        {
            // Plain LDH names (nearly all of them) need no IDNA mapping: lower case, then the label checks below.
            // The ICU call costs more than the rest of accepting a message's envelope.
            ascii = value.ToLowerInvariant();
        }
        else
        {
            try
            {
                ascii = Idn.GetAscii(value).ToLowerInvariant();
            }
            catch (ArgumentException)
            {
                error = $"'{value}' is not a valid domain name";
                return false;
            }
        }

        if (ascii.Length > 253)
        {
            error = "the domain is longer than 253 characters";
            return false;
        }

        var labels = ascii.Split('.');
        if (labels.Length < 2)
        {
            error = $"'{value}' is not a fully qualified domain name";
            return false;
        }

        foreach (var label in labels)
        {
            if (label.Length is 0 or > 63 || label[0] == '-' || label[^1] == '-' ||
                !label.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-'))
            {
                error = $"'{value}' is not a valid domain name";
                return false;
            }
        }

        normalized = ascii;
        error = string.Empty;
        return true;
    }
}
