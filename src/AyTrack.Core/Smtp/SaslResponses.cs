using System.Text;

namespace AyTrack.Core.Smtp;

/// <summary>
/// The client's side of the two SASL mechanisms the listener offers (RFC 4954 §4: responses are base64, "*" cancels),
/// decoded strictly: a response that is not base64 or not UTF-8 is a syntax error, never a guess.
/// </summary>
public static class SaslResponses
{
    private static readonly UTF8Encoding StrictUtf8 = new(false, throwOnInvalidBytes: true);

    /// <summary>Decodes one base64 response; "=" is the empty initial response (RFC 4954 §4).</summary>
    public static bool TryDecode(string response, out byte[] bytes)
    {
        if (response == "=")
        {
            bytes = [];
            return true;
        }

        bytes = new byte[(response.Length * 3 / 4) + 3];
        if (response.Length == 0 || response.Any(char.IsWhiteSpace) || !Convert.TryFromBase64String(response, bytes, out var written))
        {
            bytes = [];
            return false;
        }

        bytes = bytes[..written];
        return true;
    }

    public static bool TryText(byte[] bytes, out string text)
    {
        try
        {
            text = StrictUtf8.GetString(bytes);
            return true;
        }
        catch (DecoderFallbackException)
        {
            text = string.Empty;
            return false;
        }
    }

    /// <summary>
    /// PLAIN (RFC 4616 §2): <c>[authzid] NUL authcid NUL passwd</c>. Acting for another identity is not offered, so an
    /// authorization identity must be empty or the login itself; <paramref name="problem"/> says what was wrong.
    /// </summary>
    public static bool TryParsePlain(byte[] message, out string user, out string password, out string? problem)
    {
        user = password = string.Empty;
        var parts = new List<byte[]>(3);
        var start = 0;
        for (var i = 0; i <= message.Length; i++)
        {
            if (i == message.Length || message[i] == 0)
            {
                parts.Add(message[start..i]);
                start = i + 1;
            }
        }

        if (parts.Count != 3)
        {
            problem = "PLAIN expects authzid NUL user NUL password";
            return false;
        }

        if (!TryText(parts[0], out var authzid) || !TryText(parts[1], out user) || !TryText(parts[2], out password))
        {
            problem = "not UTF-8";
            return false;
        }

        if (user.Length == 0 || password.Length == 0)
        {
            problem = "empty user or password";
            return false;
        }

        if (authzid.Length > 0 && authzid != user)
        {
            problem = "acting as another identity (authzid) is not supported";
            return false;
        }

        problem = null;
        return true;
    }
}
