using System.Net;

namespace AyTrack.Smtp.Listener;

/// <summary>
/// AyTrack:Listener:MaxConnections and MaxConnectionsPerClient: a connection over either is answered 421 4.7.0 and
/// closed, so one client (or many) cannot take every descriptor and thread the node has.
/// </summary>
public sealed class ConnectionLimiter(int maxConnections, int maxPerClient)
{
    private readonly Dictionary<IPAddress, int> _perClient = [];
    private int _total;

    public bool TryOpen(IPAddress client)
    {
        lock (_perClient)
        {
            _perClient.TryGetValue(client, out var count);
            if (_total >= maxConnections || count >= maxPerClient)
            {
                return false;
            }

            _perClient[client] = count + 1;
            _total++;
            return true;
        }
    }

    public void Close(IPAddress client)
    {
        lock (_perClient)
        {
            if (!_perClient.TryGetValue(client, out var count))
            {
                return;
            }

            if (count <= 1)
            {
                _perClient.Remove(client);
            }
            else
            {
                _perClient[client] = count - 1;
            }

            _total--;
        }
    }

    /// <summary>A PROXY header named the real client: count the session against it instead of the proxy.</summary>
    public bool TryMove(IPAddress from, IPAddress to)
    {
        if (from.Equals(to))
        {
            return true;
        }

        lock (_perClient)
        {
            _perClient.TryGetValue(to, out var count);
            if (count >= maxPerClient)
            {
                return false;
            }

            Close(from);
            _perClient[to] = count + 1;
            _total++;
            return true;
        }
    }
}
