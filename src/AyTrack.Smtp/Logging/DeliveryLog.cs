using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using AyTrack.Core.Configuration;
using AyTrack.Core.Delivery;

namespace AyTrack.Smtp.Logging;

/// <summary>
/// The structured delivery log: one JSON object per line in &lt;DataDir&gt;/delivery.log, rotated by size to
/// delivery.log.1 … delivery.log.N (oldest dropped), so it never fills the disk.
/// </summary>
public sealed class DeliveryLog : IDeliveryLog, IDisposable
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    private readonly object _gate = new();
    private readonly string _path;
    private readonly DeliveryLogOptions _options;
    private FileStream? _stream;

    public DeliveryLog(string dataDir, DeliveryLogOptions options)
    {
        Directory.CreateDirectory(dataDir);
        _path = Path.Combine(dataDir, "delivery.log");
        _options = options;
    }

    public string FilePath => _path;

    public void Write(IEnumerable<DeliveryLogEntry> entries)
    {
        var text = new StringBuilder();
        foreach (var entry in entries)
        {
            text.Append(JsonSerializer.Serialize(entry, Json)).Append('\n');
        }

        var bytes = Encoding.UTF8.GetBytes(text.ToString());
        lock (_gate)
        {
            _stream ??= new FileStream(_path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite);
            if (_stream.Length > 0 && _stream.Length + bytes.Length > _options.MaxFileSize)
            {
                Rotate();
            }

            _stream.Write(bytes);
            _stream.Flush();
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _stream?.Dispose();
            _stream = null;
        }
    }

    private void Rotate()
    {
        _stream!.Dispose();
        var keep = Math.Max(1, _options.MaxFiles);
        File.Delete($"{_path}.{keep}");
        for (var i = keep - 1; i >= 1; i--)
        {
            if (File.Exists($"{_path}.{i}"))
            {
                File.Move($"{_path}.{i}", $"{_path}.{i + 1}");
            }
        }

        File.Move(_path, $"{_path}.1");
        _stream = new FileStream(_path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite);
    }
}
