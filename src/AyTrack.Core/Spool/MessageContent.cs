namespace AyTrack.Core.Spool;

/// <summary>
/// A message's octets as the listener holds them: pieces in memory (the trace header, the data chunks) followed by an
/// optional file the data spilled to. A spool copies it from <see cref="OpenRead"/> so a large message is never
/// gathered into one array; it may open it more than once (a group commit that fails is retried write by write).
/// </summary>
public sealed class MessageContent
{
    private readonly IReadOnlyList<ReadOnlyMemory<byte>> _pieces;
    private readonly string? _file;
    private readonly long _fileLength;

    private MessageContent(IReadOnlyList<ReadOnlyMemory<byte>> pieces, string? file, long fileLength)
    {
        _pieces = pieces;
        _file = file;
        _fileLength = fileLength;
        Length = pieces.Sum(p => (long)p.Length) + fileLength;
    }

    public long Length { get; }

    public static MessageContent FromMemory(ReadOnlyMemory<byte> body) => new([body], null, 0);

    /// <summary>The pieces in order, then the first <paramref name="fileLength"/> octets of <paramref name="file"/> if given.</summary>
    public static MessageContent FromPieces(IReadOnlyList<ReadOnlyMemory<byte>> pieces, string? file = null, long fileLength = 0) =>
        new(pieces, file, file is null ? 0 : fileLength);

    /// <summary>
    /// The content as one array when it is one piece in memory already (no copy), or a copy when it is small enough
    /// that streaming would cost more than it saves; null otherwise.
    /// </summary>
    public byte[]? AsArray(long maxCopy)
    {
        if (_file is null && _pieces.Count == 1 && System.Runtime.InteropServices.MemoryMarshal.TryGetArray(_pieces[0], out var segment) &&
            segment.Offset == 0 && segment.Count == segment.Array!.Length)
        {
            return segment.Array;
        }

        if (Length > maxCopy)
        {
            return null;
        }

        var copy = new byte[Length];
        using var stream = OpenRead();
        stream.ReadExactly(copy);
        return copy;
    }

    /// <summary>A fresh read-only, seekable stream over the whole content.</summary>
    public Stream OpenRead() => new ContentStream(this);

    private sealed class ContentStream(MessageContent content) : Stream
    {
        private FileStream? _file;
        private long _position;

        public override bool CanRead => true;

        public override bool CanSeek => true;

        public override bool CanWrite => false;

        public override long Length => content.Length;

        public override long Position
        {
            get => _position;
            set => _position = value is >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(value));
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var total = 0;
            while (buffer.Length > 0 && _position < content.Length)
            {
                var read = ReadAt(_position, buffer);
                if (read == 0)
                {
                    break;
                }

                _position += read;
                total += read;
                buffer = buffer[read..];
            }

            return total;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(Read(buffer.Span));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            Task.FromResult(Read(buffer.AsSpan(offset, count)));

        private int ReadAt(long position, Span<byte> buffer)
        {
            foreach (var piece in content._pieces)
            {
                if (position < piece.Length)
                {
                    var available = piece.Span[(int)position..];
                    var n = Math.Min(available.Length, buffer.Length);
                    available[..n].CopyTo(buffer);
                    return n;
                }

                position -= piece.Length;
            }

            if (content._file is null || position >= content._fileLength)
            {
                return 0;
            }

            _file ??= new FileStream(content._file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 81920);
            _file.Position = position;
            var wanted = (int)Math.Min(buffer.Length, content._fileLength - position);
            return _file.Read(buffer[..wanted]);
        }

        public override long Seek(long offset, SeekOrigin origin)
        {
            Position = origin switch
            {
                SeekOrigin.Begin => offset,
                SeekOrigin.Current => _position + offset,
                _ => content.Length + offset,
            };
            return _position;
        }

        public override void Flush()
        {
        }

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _file?.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
