using System.IO.Pipelines;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;

namespace AyTrack.Smtp.Listener;

/// <summary>
/// A session's connection: the socket's stream, and once TLS starts (STARTTLS, or at once on the implicit-TLS port)
/// the TLS stream over it, each read and written through a pipe pair.
/// </summary>
internal sealed class SessionTransport
{
    private readonly NetworkStream _network;
    private SslStream? _tls;

    public SessionTransport(NetworkStream network)
    {
        _network = network;
        (Input, Output) = Pipes(network);
    }

    public PipeReader Input { get; private set; }

    public PipeWriter Output { get; private set; }

    public bool IsTls => _tls is not null;

    public string? TlsDescription => _tls is null ? null : $"{_tls.SslProtocol} {_tls.NegotiatedCipherSuite}";

    /// <summary>
    /// Starts TLS as the server (TLS 1.2 minimum). The plaintext pipes are completed first, dropping anything the
    /// client sent after STARTTLS and before the handshake: such commands were not protected and must not be obeyed
    /// (RFC 3207 §4.2; the injection of CVE-2011-0411).
    /// </summary>
    public async Task StartTlsAsync(SslStreamCertificateContext certificate, CancellationToken cancellationToken)
    {
        await Input.CompleteAsync();
        await Output.CompleteAsync();
        var tls = new SslStream(_network, leaveInnerStreamOpen: true);
        _tls = tls;
        await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
        {
            ServerCertificateContext = certificate,
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            ClientCertificateRequired = false,
        }, cancellationToken);
        (Input, Output) = Pipes(tls);
    }

    public async Task CloseAsync()
    {
        await Input.CompleteAsync();
        try
        {
            await Output.CompleteAsync();
            if (_tls is not null)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await _tls.ShutdownAsync().WaitAsync(timeout.Token);
            }

            await LingerAsync(_network.Socket);
        }
        catch (Exception error) when (error is IOException or SocketException or ObjectDisposedException or OperationCanceledException
                                          or InvalidOperationException or AuthenticationException)
        {
        }

        if (_tls is not null)
        {
            await _tls.DisposeAsync();
        }

        await _network.DisposeAsync();
    }

    /// <summary>
    /// A lingering close: our side is finished (FIN), and what the client still sends is read and dropped for up to two
    /// seconds. Closing with unread input would make the kernel answer with a reset, which can destroy our last reply
    /// (a 421) before the client reads it.
    /// </summary>
    public static async Task LingerAsync(Socket socket)
    {
        socket.Shutdown(SocketShutdown.Send);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        var buffer = new byte[4096];
        while (await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token) > 0)
        {
        }
    }

    private static (PipeReader, PipeWriter) Pipes(Stream stream) =>
        (PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 4096, minimumReadSize: 1024, leaveOpen: true)),
            PipeWriter.Create(stream, new StreamPipeWriterOptions(leaveOpen: true)));
}
