using System.Net;
using System.Net.Sockets;
using System.Text;

namespace AyTrack.Loopback;

/// <summary>A reply line group as the server sent it.</summary>
public sealed record RawReply(int Code, string Text)
{
    public override string ToString() => $"{Code} {Text}";
}

/// <summary>
/// An SMTP client that sends exactly the bytes it is given: for conversations a well-behaved library will not hold
/// (bare LF, smuggling attempts, DATA without a SIZE declaration, pipelined commands).
/// </summary>
public sealed class RawSmtpClient : IAsyncDisposable
{
    private readonly TcpClient _tcp;
    private Stream _stream;
    private StreamReader _reader;

    private RawSmtpClient(TcpClient tcp)
    {
        _tcp = tcp;
        _stream = tcp.GetStream();
        _reader = new StreamReader(_stream, Encoding.UTF8);
    }

    public RawReply Greeting { get; private set; } = new(0, string.Empty);

    /// <summary>The certificate the server presented, once TLS has started.</summary>
    public System.Security.Cryptography.X509Certificates.X509Certificate2? ServerCertificate { get; private set; }

    /// <param name="preamble">Bytes sent before the greeting is read (a PROXY protocol header).</param>
    /// <param name="implicitTls">Start TLS before the greeting (RFC 8314), accepting any server certificate (see <see cref="ServerCertificate"/>).</param>
    public static async Task<RawSmtpClient> ConnectAsync(IPEndPoint endpoint, IPAddress? localAddress = null, byte[]? preamble = null,
        bool implicitTls = false)
    {
        // No Nagle: a client that writes a command in two pieces would otherwise wait for the server's delayed ACK
        // (40 ms on Linux) before the second, and measure that instead of the server.
        var tcp = localAddress is null ? new TcpClient() : new TcpClient(new IPEndPoint(localAddress, 0));
        tcp.NoDelay = true;
        await tcp.ConnectAsync(endpoint);
        var client = new RawSmtpClient(tcp);
        if (preamble is not null)
        {
            await client.WriteAsync(preamble);
        }

        if (implicitTls)
        {
            await client.StartTlsAsync();
        }

        client.Greeting = await client.ReadReplyAsync();
        return client;
    }

    /// <summary>
    /// Connects, says EHLO, opens a transaction for the sender and recipients and sends DATA: the client is then
    /// where the message's data goes. Any reply other than the expected one throws.
    /// </summary>
    public static async Task<RawSmtpClient> StartDataAsync(IPEndPoint endpoint, string sender, params string[] recipients)
    {
        var client = await ConnectAsync(endpoint);
        try
        {
            await client.ExpectAsync("EHLO client.test", 250);
            await client.ExpectAsync($"MAIL FROM:<{sender}>", 250);
            foreach (var recipient in recipients)
            {
                await client.ExpectAsync($"RCPT TO:<{recipient}>", 250);
            }

            await client.ExpectAsync("DATA", 354);
            return client;
        }
        catch
        {
            await client.DisposeAsync();
            throw;
        }
    }

    private async Task ExpectAsync(string command, int code)
    {
        var reply = await CommandAsync(command);
        if (reply.Code != code)
        {
            throw new InvalidOperationException($"{command} got {reply}, expected {code}");
        }
    }

    /// <summary>
    /// Starts TLS as the client on the connection as it is (after the server's 220 to STARTTLS, or at once for implicit
    /// TLS). The loopback CA is private, so any certificate is taken; the test checks <see cref="ServerCertificate"/>.
    /// </summary>
    public async Task StartTlsAsync()
    {
        var tls = new System.Net.Security.SslStream(_stream, leaveInnerStreamOpen: true, (_, _, _, _) => true);
        await tls.AuthenticateAsClientAsync(new System.Net.Security.SslClientAuthenticationOptions { TargetHost = "aytrack.test" })
            .WaitAsync(TimeSpan.FromSeconds(30));
        ServerCertificate = tls.RemoteCertificate is { } remote ? new System.Security.Cryptography.X509Certificates.X509Certificate2(remote) : null;
        _stream = tls;
        _reader = new StreamReader(tls, Encoding.UTF8);
    }

    public async Task<RawReply> CommandAsync(string line)
    {
        await WriteAsync(line + "\r\n");
        return await ReadReplyAsync();
    }

    public async Task WriteAsync(string text) => await WriteAsync(Encoding.UTF8.GetBytes(text));

    public async Task WriteAsync(byte[] bytes)
    {
        await _stream.WriteAsync(bytes);
        await _stream.FlushAsync();
    }

    public async Task<RawReply> ReadReplyAsync()
    {
        var lines = new List<string>();
        while (true)
        {
            var line = await _reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30))
                       ?? throw new IOException("connection closed while waiting for a reply");
            lines.Add(line.Length > 4 ? line[4..] : string.Empty);
            if (line.Length < 4 || line[3] != '-')
            {
                return new RawReply(int.Parse(line[..3]), string.Join("\n", lines));
            }
        }
    }

    /// <summary>Waits until the server closes the connection; the lines it sent before closing.</summary>
    public async Task<IReadOnlyList<string>> ReadUntilClosedAsync(TimeSpan timeout)
    {
        var lines = new List<string>();
        try
        {
            while (await _reader.ReadLineAsync().WaitAsync(timeout) is { } line)
            {
                lines.Add(line);
            }
        }
        catch (IOException)
        {
            // A reset is a close too.
        }

        return lines;
    }

    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync();
        _tcp.Dispose();
    }
}
