using System.Buffers;
using System.Globalization;
using System.Text;

namespace AyTrack.Core.Messages;

/// <summary>Checks and small edits on message data as it arrives, before anything is stored.</summary>
public static class MessageData
{
    /// <summary>
    /// True when the data contains a CR not followed by LF or an LF not preceded by CR. RFC 5321 §2.3.8 allows CR
    /// and LF only together; accepting them alone is what SMTP smuggling exploits (a "\n.\n" that a later hop reads
    /// as the end of data), so such data is refused rather than repaired.
    /// </summary>
    public static bool HasBareLineEnding(ReadOnlySequence<byte> data)
    {
        var previous = (byte)0;
        var expectLf = false;
        foreach (var segment in data)
        {
            foreach (var b in segment.Span)
            {
                if (expectLf && b != (byte)'\n')
                {
                    return true;
                }

                if (b == (byte)'\n' && previous != (byte)'\r')
                {
                    return true;
                }

                expectLf = b == (byte)'\r';
                previous = b;
            }
        }

        return expectLf;
    }

    /// <summary>Converts bare LF (and bare CR) to CRLF: for bodies posted over HTTP, where no smuggling is possible.</summary>
    public static byte[] NormalizeLineEndings(ReadOnlySpan<byte> data)
    {
        var output = new ArrayBufferWriter<byte>(data.Length + 64);
        for (var i = 0; i < data.Length; i++)
        {
            var b = data[i];
            if (b == (byte)'\r')
            {
                output.Write("\r\n"u8);
                if (i + 1 < data.Length && data[i + 1] == (byte)'\n')
                {
                    i++;
                }
            }
            else if (b == (byte)'\n')
            {
                output.Write("\r\n"u8);
            }
            else
            {
                output.GetSpan(1)[0] = b;
                output.Advance(1);
            }
        }

        return output.WrittenSpan.ToArray();
    }

    /// <summary>
    /// The value of the first header with this name in the header section (up to the first empty line), unfolded;
    /// null when absent.
    /// </summary>
    public static string? FindHeader(ReadOnlySpan<byte> message, string name)
    {
        var headerEnd = message.IndexOf("\r\n\r\n"u8);
        var headers = Encoding.UTF8.GetString(headerEnd < 0 ? message : message[..(headerEnd + 2)]);
        string? value = null;
        foreach (var line in headers.Split("\r\n"))
        {
            if (value is not null)
            {
                if (line.Length > 0 && line[0] is ' ' or '\t')
                {
                    value = (value + " " + line.Trim()).Trim();
                    continue;
                }

                return value;
            }

            var colon = line.IndexOf(':');
            if (colon > 0 && line.AsSpan(0, colon).Trim().Equals(name, StringComparison.OrdinalIgnoreCase))
            {
                value = line[(colon + 1)..].Trim();
            }
        }

        return value;
    }

    /// <summary>
    /// The trace header RFC 5321 §4.4 requires every SMTP server that accepts a message to prepend:
    /// "Received: from helo (peer) by us with protocol id queue-id; date". The recipient is named only when there is
    /// one (naming one of several would disclose the others' existence to each).
    /// </summary>
    public static string ReceivedHeader(string helo, string peerAddress, string serverName, string protocol, string queueId,
        string? singleRecipient, DateTimeOffset at)
    {
        var forClause = singleRecipient is null ? string.Empty : $"\r\n\tfor <{singleRecipient}>";
        var date = at.ToString("ddd, dd MMM yyyy HH:mm:ss ", CultureInfo.InvariantCulture) +
                   at.ToString("zzz", CultureInfo.InvariantCulture).Replace(":", string.Empty);
        return $"Received: from {Sanitize(helo)} ([{peerAddress}])\r\n\tby {serverName} (AyTrack) with {protocol} id {queueId}{forClause};\r\n\t{date}\r\n";
    }

    /// <summary>Builds a Message-ID (RFC 5322 §3.6.4) for mail injected without one.</summary>
    public static string NewMessageId(string queueId, string serverName) => $"<{queueId}@{serverName}>";

    private static string Sanitize(string helo)
    {
        var clean = new string(helo.Where(c => c > 32 && c < 127 && c != '(' && c != ')').ToArray());
        return clean.Length == 0 ? "unknown" : clean;
    }
}
