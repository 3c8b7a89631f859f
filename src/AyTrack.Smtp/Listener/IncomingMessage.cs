using System.Buffers;
using AyTrack.Core.Smtp;
using AyTrack.Core.Spool;

namespace AyTrack.Smtp.Listener;

/// <summary>
/// One message's data while it arrives: in 64 KiB chunks reserved from the shared <see cref="BufferBudget"/>, or,
/// once the budget is spent or the message passes <see cref="MaxInMemory"/>, in a file of its own under
/// &lt;DataDir&gt;/incoming/ (mode 0600), removed when the message is answered.
/// </summary>
internal sealed class IncomingMessage(BufferBudget budget, string spillDirectory) : IDataSink, IDisposable
{
    private const int ChunkSize = 64 * 1024;

    /// <summary>
    /// A message larger than this goes to disk whatever the budget: it is streamed into the spool from the file anyway,
    /// and a few large messages (or floods past the size limit) then cannot take the whole budget from the small
    /// ones, which are nearly all mail.
    /// </summary>
    public const int MaxInMemory = 4 * 1024 * 1024;

    private readonly List<byte[]> _chunks = [];
    private int _lastChunkUsed = ChunkSize;
    private long _reserved;
    private FileStream? _file;
    private string? _path;
    private long _fileLength;

    /// <summary>The spill file could not be written (disk full): the rest is discarded and the message refused with 452.</summary>
    public bool Failed { get; private set; }

    public long Length => _file is null ? (_chunks.Count == 0 ? 0 : ((long)_chunks.Count - 1) * ChunkSize + _lastChunkUsed) : _fileLength;

    public void Write(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty && !Failed)
        {
            if (_file is not null)
            {
                try
                {
                    _file.Write(data);
                    _fileLength += data.Length;
                }
                catch (IOException)
                {
                    Failed = true;
                }

                return;
            }

            if (_lastChunkUsed == ChunkSize)
            {
                if (_reserved >= MaxInMemory || !budget.TryReserve(ChunkSize))
                {
                    Spill();
                    continue;
                }

                _reserved += ChunkSize;
                // Pooled: nearly every message fits in its first chunk, and a fresh 64 KiB array per message would be
                // most of what the listener allocates.
                _chunks.Add(ArrayPool<byte>.Shared.Rent(ChunkSize));
                _lastChunkUsed = 0;
            }

            var room = ChunkSize - _lastChunkUsed;
            var n = Math.Min(room, data.Length);
            data[..n].CopyTo(_chunks[^1].AsSpan(_lastChunkUsed));
            _lastChunkUsed += n;
            data = data[n..];
        }
    }

    /// <summary>The first octets of the data, for reading its header section (Message-ID).</summary>
    public byte[] ReadHead(int max)
    {
        var length = (int)Math.Min(max, Length);
        var head = new byte[length];
        using var stream = Content(ReadOnlyMemory<byte>.Empty).OpenRead();
        stream.ReadExactly(head);
        return head;
    }

    /// <summary>The stored form: <paramref name="prefix"/> (the trace header) followed by the data.</summary>
    public MessageContent Content(ReadOnlyMemory<byte> prefix)
    {
        if (_file is not null)
        {
            _file.Flush();
            return MessageContent.FromPieces([prefix], _path, _fileLength);
        }

        var pieces = new List<ReadOnlyMemory<byte>>(_chunks.Count + 1) { prefix };
        for (var i = 0; i < _chunks.Count; i++)
        {
            pieces.Add(_chunks[i].AsMemory(0, i == _chunks.Count - 1 ? _lastChunkUsed : ChunkSize));
        }

        return MessageContent.FromPieces(pieces);
    }

    public void Dispose()
    {
        ReleaseChunks();
        if (_file is not null)
        {
            try
            {
                _file.Dispose();
            }
            catch (IOException)
            {
                // Its buffered tail could not be written (disk full); the file is removed all the same.
            }

            _file = null;
            TryDelete(_path!);
        }
    }

    /// <summary>Removes what earlier runs left behind (a crash between spilling and answering).</summary>
    public static void CleanDirectory(string spillDirectory)
    {
        if (!Directory.Exists(spillDirectory))
        {
            return;
        }

        foreach (var file in Directory.EnumerateFiles(spillDirectory))
        {
            TryDelete(file);
        }
    }

    private void Spill()
    {
        try
        {
            SpillToFile();
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            Failed = true;
            ReleaseChunks();
        }
    }

    private void SpillToFile()
    {
        Directory.CreateDirectory(spillDirectory);
        _path = Path.Combine(spillDirectory, Guid.NewGuid().ToString("N") + ".eml");
        var options = new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.ReadWrite,
            Share = FileShare.Read | FileShare.Delete,
            BufferSize = ChunkSize,
        };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        _file = new FileStream(_path, options);
        for (var i = 0; i < _chunks.Count; i++)
        {
            var used = i == _chunks.Count - 1 ? _lastChunkUsed : ChunkSize;
            _file.Write(_chunks[i], 0, used);
            _fileLength += used;
        }

        ReleaseChunks();
    }

    private void ReleaseChunks()
    {
        foreach (var chunk in _chunks)
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }

        _chunks.Clear();
        _lastChunkUsed = ChunkSize;
        budget.Release(_reserved);
        _reserved = 0;
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // Removed at the next start.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
