using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Text;

namespace AyTrack.Core.Smtp;

/// <summary>
/// The PROXY protocol header (HAProxy's specification, versions 1 and 2) a load balancer sends before the SMTP
/// conversation, naming the client it forwards. Pure parsing; the listener honours it only from
/// AyTrack:Listener:ProxyProtocolFrom.
/// </summary>
public static class ProxyHeader
{
    /// <summary>Version 2 starts with these 12 octets.</summary>
    public static ReadOnlySpan<byte> V2Signature => [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

    /// <summary>Version 1's line is at most 107 octets, CRLF included (specification §2.1).</summary>
    public const int MaxV1Length = 107;

    public enum Status
    {
        /// <summary>More octets are needed.</summary>
        Incomplete,
        Parsed,
        Invalid,
    }

    /// <summary>
    /// Parses a header at the start of <paramref name="data"/>. On <see cref="Status.Parsed"/>, <paramref name="source"/>
    /// is the client's address (null for v1 UNKNOWN or a v2 LOCAL command: the connection's own address stands) and
    /// <paramref name="length"/> the header's octets.
    /// </summary>
    public static Status TryParse(ReadOnlySequence<byte> data, out IPEndPoint? source, out int length, out string error)
    {
        source = null;
        length = 0;
        error = string.Empty;
        Span<byte> head = stackalloc byte[16];
        var available = (int)Math.Min(data.Length, head.Length);
        data.Slice(0, available).CopyTo(head);
        head = head[..available];

        if (available < 6)
        {
            return V2Signature.StartsWith(head) || "PROXY "u8.StartsWith(head) ? Status.Incomplete : Invalid("not a PROXY protocol header", out error);
        }

        if (head.StartsWith("PROXY "u8))
        {
            return ParseV1(data, out source, out length, out error);
        }

        if (!V2Signature.StartsWith(head[..Math.Min(available, 12)]))
        {
            return Invalid("not a PROXY protocol header", out error);
        }

        return available < 16 ? Status.Incomplete : ParseV2(data, head, out source, out length, out error);
    }

    private static Status ParseV1(ReadOnlySequence<byte> data, out IPEndPoint? source, out int length, out string error)
    {
        source = null;
        length = 0;
        error = string.Empty;
        var window = data.Slice(0, Math.Min(data.Length, MaxV1Length));
        var end = window.PositionOf((byte)'\n');
        if (end is null)
        {
            return window.Length >= MaxV1Length ? Invalid("PROXY v1 line longer than 107 octets", out error) : Status.Incomplete;
        }

        var lineBytes = window.Slice(0, end.Value).ToArray();
        length = lineBytes.Length + 1;
        if (lineBytes.Length == 0 || lineBytes[^1] != (byte)'\r')
        {
            return Invalid("PROXY v1 line must end with CRLF", out error);
        }

        var parts = Encoding.ASCII.GetString(lineBytes, 0, lineBytes.Length - 1).Split(' ');
        // "PROXY UNKNOWN" may carry anything after it (specification §2.1); the connection's address stands.
        if (parts.Length >= 2 && parts[1] == "UNKNOWN")
        {
            return Status.Parsed;
        }

        if (parts.Length != 6 || parts[1] is not ("TCP4" or "TCP6") ||
            !IPAddress.TryParse(parts[2], out var address) || !IPAddress.TryParse(parts[3], out _) ||
            !ushort.TryParse(parts[4], out var port) || !ushort.TryParse(parts[5], out _) ||
            (parts[1] == "TCP4") != (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork))
        {
            return Invalid("malformed PROXY v1 line", out error);
        }

        source = new IPEndPoint(address, port);
        return Status.Parsed;
    }

    private static Status ParseV2(ReadOnlySequence<byte> data, ReadOnlySpan<byte> head, out IPEndPoint? source, out int length, out string error)
    {
        source = null;
        length = 0;
        error = string.Empty;
        var versionCommand = head[12];
        var family = head[13];
        var payload = BinaryPrimitives.ReadUInt16BigEndian(head[14..16]);
        if (versionCommand >> 4 != 2 || (versionCommand & 0x0F) > 1)
        {
            return Invalid("unsupported PROXY v2 version or command", out error);
        }

        // Nothing legitimate is larger than the Unix-socket address block plus TLVs a proxy adds; bound it.
        if (payload > 1024)
        {
            return Invalid("PROXY v2 header too long", out error);
        }

        if (data.Length < 16 + payload)
        {
            return Status.Incomplete;
        }

        length = 16 + payload;
        var block = data.Slice(16, payload).ToArray();
        if ((versionCommand & 0x0F) == 0)
        {
            // LOCAL: the proxy's own health check; the connection's address stands.
            return Status.Parsed;
        }

        switch (family)
        {
            case 0x11 when payload >= 12:
                source = new IPEndPoint(new IPAddress(block.AsSpan(0, 4)), BinaryPrimitives.ReadUInt16BigEndian(block.AsSpan(8, 2)));
                return Status.Parsed;
            case 0x21 when payload >= 36:
                source = new IPEndPoint(new IPAddress(block.AsSpan(0, 16)), BinaryPrimitives.ReadUInt16BigEndian(block.AsSpan(32, 2)));
                return Status.Parsed;
            case 0x00:
                return Status.Parsed;
            default:
                return Invalid("unsupported PROXY v2 address family", out error);
        }
    }

    private static Status Invalid(string reason, out string error)
    {
        error = reason;
        return Status.Invalid;
    }
}
