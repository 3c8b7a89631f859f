using System.Net;
using System.Net.Sockets;

namespace AyTrack.Loopback;

/// <summary>
/// A host that accepts TCP connections and then either says nothing (a hung server) or closes at once (a server
/// that drops connections): the failures a delivery engine must time out of or move past.
/// </summary>
public sealed class SilentHost : LoopbackTcpHost
{
    private readonly List<TcpClient> _held = [];
    private readonly bool _drop;

    public SilentHost(IPEndPoint endpoint, bool drop)
        : base(endpoint)
    {
        _drop = drop;
        Accept();
    }

    public int Connections { get; private set; }

    public override void Dispose()
    {
        base.Dispose();
        lock (_held)
        {
            _held.ForEach(c => c.Dispose());
        }
    }

    protected override Task ServeAsync(TcpClient client)
    {
        lock (_held)
        {
            Connections++;
            if (_drop)
            {
                client.Client.LingerState = new LingerOption(true, 0);
                client.Dispose();
            }
            else
            {
                _held.Add(client);
            }
        }

        return Task.CompletedTask;
    }
}
