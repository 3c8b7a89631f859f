using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using AyTrack.Core.Bounces;
using AyTrack.Core.Configuration;
using AyTrack.Core.Delivery;
using Microsoft.Extensions.Logging;

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

    private readonly BounceClassifier? _classifier;
    private readonly ILogger? _logger;
    private readonly AyTrack.Smtp.Listener.RateLimitedLog _failures = new(TimeSpan.FromMinutes(1));

    private readonly AyTrack.Core.Metrics.AyTrackMetrics? _metrics;

    /// <param name="classifier">Gives every failure (deferred, failed, bounced) its category; null leaves lines without one.</param>
    /// <param name="logger">Where a line that cannot be written is reported.</param>
    /// <param name="metrics">Counts each attempt's outcome (the lines with a route), whether or not the line can be written.</param>
    public DeliveryLog(string dataDir, DeliveryLogOptions options, BounceClassifier? classifier = null, ILogger? logger = null,
        AyTrack.Core.Metrics.AyTrackMetrics? metrics = null)
    {
        _classifier = classifier;
        _metrics = metrics;
        _logger = logger;
        Directory.CreateDirectory(dataDir);
        _path = Path.Combine(dataDir, "delivery.log");
        _options = options;
    }

    public string FilePath => _path;

    /// <summary>An attempt's outcome as the metric names it: a permanent failure at an attempt is a bounce.</summary>
    private static string? MetricOutcome(string outcome) => outcome switch
    {
        "delivered" => "delivered",
        "deferred" => "deferred",
        "failed" => "bounced",
        _ => null,
    };

    /// <summary>A reply's bounce category by the node's rules (Other without rules).</summary>
    public BounceCategory Classify(SmtpReply reply) => _classifier?.Classify(reply) ?? BounceCategory.Other;

    public void Write(IEnumerable<DeliveryLogEntry> entries)
    {
        var text = new StringBuilder();
        foreach (var entry in entries)
        {
            var line = entry.Category is null && _classifier is not null && IsFailure(entry.Outcome)
                ? entry with { Category = _classifier.Classify(entry.Reply).ToString() }
                : entry;
            text.Append(JsonSerializer.Serialize(line, Json)).Append('\n');
            if (_metrics is not null && line.Route is { } route && MetricOutcome(line.Outcome) is { } outcome)
            {
                _metrics.Delivery(outcome, route);
            }
        }

        var bytes = Encoding.UTF8.GetBytes(text.ToString());
        lock (_gate)
        {
            try
            {
                _stream ??= new FileStream(_path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite);
                if (_stream.Length > 0 && _stream.Length + bytes.Length > _options.MaxFileSize)
                {
                    Rotate();
                }

                _stream.Write(bytes);
                _stream.Flush();
            }
            catch (Exception error) when (error is IOException or UnauthorizedAccessException)
            {
                // The outcome stands whatever happens to its log line: a delivered message must not be sent again
                // because the disk is full or the node is out of descriptors. The file is opened afresh next time.
                _stream?.Dispose();
                _stream = null;
                if (_failures.ShouldLog("write", DateTimeOffset.UtcNow, out var suppressed))
                {
                    _logger?.LogError("Could not write {Lines} line(s) to the delivery log {Path} ({Error}); they are lost{Suppressed}",
                        text.ToString().Count(c => c == '\n'), _path, error.Message,
                        suppressed > 0 ? $" ({suppressed} more failed writes since the last report)" : string.Empty);
                }
            }
        }
    }

    // Delivered mail has no failure to classify; held (unreadable content) and deleted (an operator) are not the
    // receiver's verdict.
    private static bool IsFailure(string outcome) => outcome is not ("delivered" or "held" or "deleted" or "site");

    /// <summary>The most bytes of each file <see cref="Recent"/> reads: its cost is bounded whatever the log's size.</summary>
    public const int RecentTailBytes = 4 * 1024 * 1024;

    /// <summary>
    /// The newest lines, newest first, for a recipient domain and an outcome when given: read from the end of
    /// delivery.log (then delivery.log.1), at most <see cref="RecentTailBytes"/> of each, so "recent" means within the
    /// last few megabytes of the log. Lines that do not parse are skipped.
    /// </summary>
    public IReadOnlyList<DeliveryLogEntry> Recent(string? domain, string? outcome, int limit)
    {
        var found = new List<DeliveryLogEntry>(limit);
        foreach (var path in new[] { _path, $"{_path}.1" })
        {
            foreach (var line in TailLines(path).Reverse())
            {
                DeliveryLogEntry? entry;
                try
                {
                    entry = JsonSerializer.Deserialize<DeliveryLogEntry>(line, Json);
                }
                catch (JsonException)
                {
                    continue;
                }

                if (entry is null || (outcome is not null && entry.Outcome != outcome) ||
                    (domain is not null && !entry.Recipient.EndsWith("@" + domain, StringComparison.OrdinalIgnoreCase)))
                {
                    continue;
                }

                found.Add(entry);
                if (found.Count == limit)
                {
                    return found;
                }
            }
        }

        return found;
    }

    private static IEnumerable<string> TailLines(string path)
    {
        byte[] bytes;
        bool partial;
        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            var length = file.Length;
            partial = length > RecentTailBytes;
            file.Seek(Math.Max(0, length - RecentTailBytes), SeekOrigin.Begin);
            bytes = new byte[Math.Min(length, RecentTailBytes)];
            file.ReadExactly(bytes);
        }
        catch (Exception error) when (error is FileNotFoundException or DirectoryNotFoundException or IOException or UnauthorizedAccessException)
        {
            return [];
        }

        var lines = Encoding.UTF8.GetString(bytes).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        // A tail that starts inside a line drops that piece; the last piece may be a line being written.
        return partial ? lines.Skip(1) : lines;
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
