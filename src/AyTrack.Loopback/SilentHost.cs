using System.Net;
using System.Net.Sockets;

namespace AyTrack.Loopback;

/// <summary>
/// A host that accepts TCP connections and then either says nothing (a hung server) or closes at once (a server
/// that drops connections): the failures a delivery engine must time out of or move past.
/// </summary>
public sealed class SilentHost : IDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<TcpClient> _held = [];

    public SilentHost(IPEndPoint endpoint, bool drop)
    {
        _listener = new TcpListener(endpoint);
        _listener.Start();
        Endpoint = (IPEndPoint)_listener.LocalEndpoint;
        _ = AcceptLoopAsync(drop);
    }

    public IPEndPoint Endpoint { get; }

    public int Connections { get; private set; }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        lock (_held)
        {
            _held.ForEach(c => c.Dispose());
        }
    }

    private async Task AcceptLoopAsync(bool drop)
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception error) when (error is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            Connections++;
            if (drop)
            {
                client.Client.LingerState = new LingerOption(true, 0);
                client.Dispose();
            }
            else
            {
                lock (_held)
                {
                    _held.Add(client);
                }
            }
        }
    }
}
