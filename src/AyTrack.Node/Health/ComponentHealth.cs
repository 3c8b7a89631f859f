namespace AyTrack.Node.Health;

/// <summary>
/// What one component of the node currently has wrong: reason codes with the detail an operator reads on
/// /api/health and the time each was first seen. Thread-safe; set by whoever notices, cleared when it works again.
/// </summary>
public class ComponentHealth(TimeProvider time)
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

/// <summary>The spool's and the journal's state: written by the storage probe and the integrity check.</summary>
public sealed class StorageHealth(TimeProvider time) : ComponentHealth(time);
