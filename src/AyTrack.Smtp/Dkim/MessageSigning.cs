using AyTrack.Core.Dkim;
using AyTrack.Core.Spool;
using AyTrack.Smtp.Listener;
using Microsoft.Extensions.Logging;

namespace AyTrack.Smtp.Dkim;

/// <summary>
/// Signs accepted mail once, before the 250: when the From domain (or a parent) has an active key, the
/// DKIM-Signature fields go in front of the message; otherwise it passes unchanged. Existing signatures are kept.
/// </summary>
public sealed class MessageSigning(LiveDkimKeys keys, ILogger<MessageSigning> logger)
{
    private readonly RateLimitedLog _failures = new(TimeSpan.FromMinutes(1));

    /// <summary>The DKIM-Signature fields for this message, or empty when nothing signs it.</summary>
    public ReadOnlyMemory<byte> SignatureFor(MessageContent content)
    {
        if (keys.Ring.Keys.Count == 0)
        {
            return ReadOnlyMemory<byte>.Empty;
        }

        string? fromDomain;
        using (var head = content.OpenRead())
        {
            fromDomain = DkimMessageSigner.FromDomain(head);
        }

        var signing = fromDomain is null ? [] : keys.SigningKeysFor(fromDomain);
        if (signing.Count == 0)
        {
            return ReadOnlyMemory<byte>.Empty;
        }

        try
        {
            using var stream = content.OpenRead();
            return DkimMessageSigner.Sign(stream, signing);
        }
        catch (Exception error) when (error is FormatException or InvalidOperationException or ArgumentException or Org.BouncyCastle.Crypto.CryptoException)
        {
            // The message is accepted unsigned rather than refused: it is the sender's mail, and a receiver treats
            // an unsigned message better than none. The operator sees it.
            if (_failures.ShouldLog(fromDomain!, DateTimeOffset.UtcNow, out var suppressed))
            {
                logger.LogWarning("Could not DKIM-sign a message from {Domain} ({Problem}); it goes unsigned{Suppressed}", fromDomain,
                    error.Message, suppressed > 0 ? $" ({suppressed} more since the last warning)" : string.Empty);
            }

            return ReadOnlyMemory<byte>.Empty;
        }
    }
}
