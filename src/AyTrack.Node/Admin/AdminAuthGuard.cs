using System.Net;

namespace AyTrack.Node.Admin;

/// <summary>
/// Counts failed admin-API authentications per client address: more than <see cref="MaxFailures"/> in a minute and
/// the address gets 429 for a minute, so a token cannot be guessed at network speed. It also decides which failures
/// are logged (one line per address every ten seconds, with a count), so the log cannot be flooded either. Bounded:
/// at most <see cref="MaxTrackedClients"/> addresses are remembered.
/// </summary>
public sealed class AdminAuthGuard(TimeProvider time)
{
    public const int MaxFailures = 10;
    public const int MaxTrackedClients = 10_000;
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(1);
    public static readonly TimeSpan LogEvery = TimeSpan.FromSeconds(10);

    private readonly object _gate = new();
    private readonly Dictionary<IPAddress, Client> _clients = [];

    /// <summary>Whether this address is locked out now, and for how long.</summary>
    public bool IsBlocked(IPAddress address, out TimeSpan retryAfter)
    {
        var now = time.GetUtcNow();
        lock (_gate)
        {
            if (_clients.TryGetValue(address, out var client) && client.BlockedUntil > now)
            {
                retryAfter = client.BlockedUntil - now;
                return true;
            }
        }

        retryAfter = TimeSpan.Zero;
        return false;
    }

    /// <summary>Records a failure. Returns the failures to report in a log line now, or 0 when this one is not logged.</summary>
    public int Failed(IPAddress address)
    {
        var now = time.GetUtcNow();
        lock (_gate)
        {
            if (!_clients.TryGetValue(address, out var client))
            {
                if (_clients.Count >= MaxTrackedClients)
                {
                    Prune(now);
                }

                _clients[address] = client = new Client();
            }

            while (client.Failures.Count > 0 && now - client.Failures.Peek() > Window)
            {
                client.Failures.Dequeue();
            }

            client.Failures.Enqueue(now);
            client.Unlogged++;
            if (client.Failures.Count > MaxFailures)
            {
                client.BlockedUntil = now + Window;
                client.Failures.Clear();
            }

            if (now - client.LastLogged < LogEvery)
            {
                return 0;
            }

            client.LastLogged = now;
            var count = client.Unlogged;
            client.Unlogged = 0;
            return count;
        }
    }

    private void Prune(DateTimeOffset now)
    {
        foreach (var (address, client) in _clients.ToList())
        {
            if (client.BlockedUntil <= now && (client.Failures.Count == 0 || now - client.Failures.Peek() > Window))
            {
                _clients.Remove(address);
            }
        }

        // Everyone is active: forget the oldest half rather than grow without bound.
        if (_clients.Count >= MaxTrackedClients)
        {
            foreach (var address in _clients.OrderBy(c => c.Value.LastLogged).Take(_clients.Count / 2).Select(c => c.Key).ToList())
            {
                _clients.Remove(address);
            }
        }
    }

    private sealed class Client
    {
        public Queue<DateTimeOffset> Failures { get; } = new();

        public DateTimeOffset BlockedUntil { get; set; } = DateTimeOffset.MinValue;

        public DateTimeOffset LastLogged { get; set; } = DateTimeOffset.MinValue;

        public int Unlogged { get; set; }
    }
}
