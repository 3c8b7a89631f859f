using System.Net;
using System.Net.Sockets;

namespace AyTrack.Loopback;

/// <summary>
/// A raw TCP host of the loopback world: listens on its endpoint and hands each accepted connection to
/// <see cref="ServeAsync"/> until it is disposed. For the hosts that must behave in ways no SMTP library will.
/// </summary>
public abstract class LoopbackTcpHost : IDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();

    protected LoopbackTcpHost(IPEndPoint endpoint)
    {
        _listener = new TcpListener(endpoint);
        _listener.Start();
        Endpoint = (IPEndPoint)_listener.LocalEndpoint;
    }

    public IPEndPoint Endpoint { get; }

    /// <summary>Cancelled when the host is disposed.</summary>
    protected CancellationToken Stopping => _stop.Token;

    public virtual void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        GC.SuppressFinalize(this);
    }

    /// <summary>Starts accepting; called by a derived host once its own fields are set.</summary>
    protected void Accept() => _ = AcceptLoopAsync();

    /// <summary>Serves one connection; the task is not awaited, so it must catch its own failures.</summary>
    protected abstract Task ServeAsync(TcpClient client);

    private async Task AcceptLoopAsync()
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

            _ = ServeAsync(client);
        }
    }
}
