namespace AyTrack.Node.Health;

/// <summary>
/// What the node's storage (spool and journal) currently has wrong: reason codes with the detail an operator reads on
/// /api/health and the time each was first seen. Thread-safe; set by the storage monitor when it notices, cleared when
/// a probe works again.
/// </summary>
public sealed class StorageHealth(TimeProvider time)
{
    private readonly object _gate = new();
    private readonly Dictionary<string, (string Detail, DateTimeOffset Since)> _problems = new(StringComparer.Ordinal);

    public void Set(string code, string detail)
    {
        lock (_gate)
        {
            _problems[code] = (detail, _problems.TryGetValue(code, out var known) ? known.Since : time.GetUtcNow());
        }
    }

    public void Clear(string code)
    {
        lock (_gate)
        {
            _problems.Remove(code);
        }
    }

    public IReadOnlyList<(string Code, string Detail, DateTimeOffset Since)> Problems
    {
        get
        {
            lock (_gate)
            {
                return _problems.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => (p.Key, p.Value.Detail, p.Value.Since)).ToList();
            }
        }
    }
}
