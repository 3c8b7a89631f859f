using AyTrack.Core.Shaping;

namespace AyTrack.Smtp.Delivery;

/// <summary>
/// An open outbound session that may outlive its batch: parked in its site's lease for the next batch (until the
/// site's idleConnectionTimeout), reused when the next batch needs the same thing (<see cref="Key"/>: route, host,
/// address, source, TLS), and closed with QUIT otherwise.
/// </summary>
internal sealed class PooledSmtpSession(OutboundSmtpClient client, string key, string host, string ip) : IPooledSession
{
    private static readonly TimeSpan QuitTimeout = TimeSpan.FromSeconds(5);

    /// <summary>A parked session that does not answer NOOP this fast is not worth waiting for: a new one is opened.</summary>
    private static readonly TimeSpan NoOpTimeout = TimeSpan.FromSeconds(10);

    public OutboundSmtpClient Client { get; } = client;

    public string Key { get; } = key;

    public string Host { get; } = host;

    public string Ip { get; } = ip;

    public int Delivered { get; set; }

    /// <summary>
    /// Whether a parked session still answers (RFC 5321 §4.1.1.9 NOOP): a server may have closed it while it was idle,
    /// and a message must not be the thing that finds out.
    /// </summary>
    public async Task<bool> AliveAsync(CancellationToken cancellationToken)
    {
        if (!Client.IsConnected)
        {
            return false;
        }

        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(NoOpTimeout);
            await Client.NoOpAsync(timeout.Token);
            return true;
        }
        catch (Exception error) when (SessionDelivery.IsConnectionFailure(error) && !cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (Client.IsConnected)
            {
                using var timeout = new CancellationTokenSource(QuitTimeout);
                await Client.QuitAsync(timeout.Token);
            }
        }
        catch (Exception error) when (SessionDelivery.IsConnectionFailure(error))
        {
            // The session is going away either way.
        }
        finally
        {
            await Client.DisposeAsync();
        }
    }
}
