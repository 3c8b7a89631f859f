using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;

namespace AyTrack.Loopback;

/// <summary>
/// The HTTPS servers of the loopback world's <c>mta-sts.&lt;domain&gt;</c> hosts, on one loopback port: each host gets a
/// certificate from the world's test CA by SNI and answers /.well-known/mta-sts.txt as the test set it (a policy, a
/// redirect, an error, or silence). A minimal HTTP/1.1 responder: one request per connection, then close.
/// </summary>
public sealed class MtaStsPolicyServer : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, Answer> _answers = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, int> _requests = new(StringComparer.OrdinalIgnoreCase);
    private readonly TcpListener _listener;
    private readonly TestCertificateAuthority _ca;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public MtaStsPolicyServer(IPAddress address, TestCertificateAuthority ca)
    {
        _ca = ca;
        _listener = new TcpListener(address, 0);
        _listener.Start();
        Endpoint = (IPEndPoint)_listener.LocalEndpoint;
        _loop = AcceptLoopAsync();
    }

    public IPEndPoint Endpoint { get; }

    /// <summary>How many policy requests reached the host mta-sts.&lt;domain&gt;.</summary>
    public int Requests(string domain) => _requests.GetValueOrDefault($"mta-sts.{domain}");

    public void ServePolicy(string domain, string policy, string contentType = "text/plain") =>
        _answers[$"mta-sts.{domain}"] = new Answer(200, contentType, policy, null, false);

    public void ServeRedirect(string domain, string location) => _answers[$"mta-sts.{domain}"] = new Answer(302, "text/plain", string.Empty, location, false);

    public void ServeStatus(string domain, int status) => _answers[$"mta-sts.{domain}"] = new Answer(status, "text/plain", string.Empty, null, false);

    /// <summary>Accepts the request and never answers.</summary>
    public void Hang(string domain) => _answers[$"mta-sts.{domain}"] = new Answer(0, string.Empty, string.Empty, null, true);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await _loop;
        }
        catch (Exception error) when (error is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // Stopped.
        }

        _stop.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var client = await _listener.AcceptTcpClientAsync(_stop.Token);
            _ = ServeAsync(client);
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using var _ = client;
        try
        {
            await using var tls = new SslStream(client.GetStream());
            await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
            {
                ServerCertificateSelectionCallback = (_, host) => _ca.Issue(host ?? "unknown.test"),
            }, _stop.Token);
            var head = await ReadHeadAsync(tls);
            var host = head.Split("\r\n").Select(l => l.Split(':', 2)).Where(p => p.Length == 2 && p[0].Trim().Equals("Host", StringComparison.OrdinalIgnoreCase))
                .Select(p => p[1].Trim().Split(':')[0]).FirstOrDefault() ?? string.Empty;
            _requests.AddOrUpdate(host, 1, (_, n) => n + 1);
            var answer = head.StartsWith("GET /.well-known/mta-sts.txt ", StringComparison.Ordinal) && _answers.TryGetValue(host, out var known)
                ? known
                : new Answer(404, "text/plain", "not found", null, false);
            if (answer.Hang)
            {
                await Task.Delay(Timeout.Infinite, _stop.Token);
            }

            var body = Encoding.UTF8.GetBytes(answer.Body);
            var response = new StringBuilder($"HTTP/1.1 {answer.Status} X\r\nContent-Type: {answer.ContentType}\r\nContent-Length: {body.Length}\r\nConnection: close\r\n");
            if (answer.Location is not null)
            {
                response.Append($"Location: {answer.Location}\r\n");
            }

            await tls.WriteAsync(Encoding.ASCII.GetBytes(response.Append("\r\n").ToString()));
            await tls.WriteAsync(body);
            await tls.FlushAsync();
        }
        catch (Exception error) when (error is IOException or OperationCanceledException or System.Security.Authentication.AuthenticationException or ObjectDisposedException)
        {
            // A client that went away, or the server stopping.
        }
    }

    private static async Task<string> ReadHeadAsync(Stream stream)
    {
        var buffer = new byte[8192];
        var length = 0;
        while (length < buffer.Length)
        {
            var read = await stream.ReadAsync(buffer.AsMemory(length));
            if (read == 0)
            {
                break;
            }

            length += read;
            if (Encoding.ASCII.GetString(buffer, 0, length).Contains("\r\n\r\n", StringComparison.Ordinal))
            {
                break;
            }
        }

        return Encoding.ASCII.GetString(buffer, 0, length);
    }

    private sealed record Answer(int Status, string ContentType, string Body, string? Location, bool Hang);
}
