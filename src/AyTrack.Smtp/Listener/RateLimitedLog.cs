using System.Collections.Concurrent;

namespace AyTrack.Smtp.Listener;

/// <summary>
/// At most one log line per key (a client address, a failing accept()) per interval, carrying how many were held
/// back: a client that sends garbage 10,000 times, or a listener out of descriptors, cannot fill the disk with log.
/// </summary>
internal sealed class RateLimitedLog(TimeSpan interval, int maxKeys = 10_000)
{
    private readonly ConcurrentDictionary<string, Entry> _entries = new();

    /// <summary>True when a line may be written now; <paramref name="suppressed"/> is how many were held back since the last.</summary>
    public bool ShouldLog(string key, DateTimeOffset now, out int suppressed)
    {
        if (_entries.Count > maxKeys)
        {
            _entries.Clear();
        }

        var entry = _entries.GetOrAdd(key, _ => new Entry());
        lock (entry)
        {
            if (entry.Last is { } last && now - last < interval)
            {
                entry.Suppressed++;
                suppressed = 0;
                return false;
            }

            suppressed = entry.Suppressed;
            entry.Suppressed = 0;
            entry.Last = now;
            return true;
        }
    }

    private sealed class Entry
    {
        public DateTimeOffset? Last { get; set; }

        public int Suppressed { get; set; }
    }
}
