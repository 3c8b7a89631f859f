using System.Text;
using MimeKit;
using MimeKit.Cryptography;
using Org.BouncyCastle.Crypto;

namespace AyTrack.Core.Dkim;

/// <summary>A key ready to sign: its entry and its opened private key.</summary>
public sealed record DkimSigningKey(DkimKeyEntry Entry, AsymmetricKeyParameter PrivateKey)
{
    /// <summary>An RSA key for .NET's RSA (<see cref="SystemRsaDkimSigner"/>), converted once when the key is opened.</summary>
    public RsaSigningPool? Rsa { get; } =
        PrivateKey is Org.BouncyCastle.Crypto.Parameters.RsaPrivateCrtKeyParameters crt ? new(Org.BouncyCastle.Security.DotNetUtilities.ToRSAParameters(crt)) : null;
}

/// <summary>
/// Signs a message with MimeKit's <see cref="DkimSigner"/> and returns only the <c>DKIM-Signature</c> header lines, to
/// be stored in front of the unchanged message octets: the message is parsed to compute the hashes, never
/// re-encoded or rewritten. Relaxed/relaxed canonicalization (RFC 6376 §3.4), no <c>l=</c>, and the header set of
/// RFC 6376 §5.4.1 with <c>From</c> over-signed, so a second From added later breaks the signature.
/// </summary>
public static class DkimMessageSigner
{
    // RFC 6376 §5.4.1's list of headers to sign, plus the MIME headers §5.4 recommends; listing From twice signs
    // the absence of a second one (over-signing, §8.15).
    private static readonly string[] SignedHeaders =
    [
        "From", "From", "Reply-To", "Subject", "Date", "To", "Cc", "Resent-Date", "Resent-From", "Resent-Sender", "Resent-To",
        "Resent-Cc", "In-Reply-To", "References", "List-Id", "List-Help", "List-Unsubscribe", "List-Unsubscribe-Post",
        "List-Subscribe", "List-Post", "List-Owner", "List-Archive", "Sender", "Message-ID", "MIME-Version", "Content-Type",
        "Content-Transfer-Encoding",
    ];

    /// <summary>
    /// The domain of the message's (first) From address, or null when it has none that can be read: such mail passes
    /// unsigned. Reads only the header block.
    /// </summary>
    public static string? FromDomain(Stream message)
    {
        var headers = HeaderList.Load(ParserOptions.Default, message);
        var from = headers[HeaderId.From];
        if (from is null || !InternetAddressList.TryParse(from, out var list))
        {
            return null;
        }

        var address = list.Mailboxes.FirstOrDefault();
        return address?.Domain is { Length: > 0 } domain ? domain.ToLowerInvariant() : null;
    }

    /// <summary>The DKIM-Signature header fields (CRLF-terminated) for the message in <paramref name="message"/>.</summary>
    public static byte[] Sign(Stream message, IReadOnlyList<DkimSigningKey> keys)
    {
        // persistent: a seekable stream is read in place, so a large message is not copied into memory.
        var parsed = MimeMessage.Load(ParserOptions.Default, message, persistent: true);
        var present = SignedHeaders.Where(h => h == "From" || parsed.Headers.Contains(h)).ToList();
        var options = FormatOptions.Default.Clone();
        options.NewLineFormat = NewLineFormat.Dos;
        var output = new StringBuilder();
        foreach (var key in keys)
        {
            var signer = key.Entry.Algorithm == DkimAlgorithm.Rsa && key.Rsa is { } rsa
                ? new SystemRsaDkimSigner(key.PrivateKey, rsa, key.Entry.Domain, key.Entry.Selector)
                : new DkimSigner(key.PrivateKey, key.Entry.Domain, key.Entry.Selector,
                    key.Entry.Algorithm == DkimAlgorithm.Rsa ? DkimSignatureAlgorithm.RsaSha256 : DkimSignatureAlgorithm.Ed25519Sha256);
            signer.HeaderCanonicalizationAlgorithm = DkimCanonicalizationAlgorithm.Relaxed;
            signer.BodyCanonicalizationAlgorithm = DkimCanonicalizationAlgorithm.Relaxed;
            var copy = parsed.Headers.Count;
            signer.Sign(options, parsed, present);
            // MimeKit inserts the new field at the top; keep the text and take it out again so that the next key
            // signs the same headers (one signature never covers another).
            var field = parsed.Headers[0];
            if (field.Id != HeaderId.DkimSignature || parsed.Headers.Count != copy + 1)
            {
                throw new InvalidOperationException("MimeKit did not add a DKIM-Signature header");
            }

            // Stored mail has CRLF line ends only (the listener refuses bare LF), folds included.
            var value = Encoding.ASCII.GetString(field.RawValue).Replace("\r\n", "\n").TrimEnd('\n').Replace("\n", "\r\n");
            output.Append(field.Field).Append(':').Append(value).Append("\r\n");
            parsed.Headers.RemoveAt(0);
        }

        return Encoding.ASCII.GetBytes(output.ToString());
    }
}
