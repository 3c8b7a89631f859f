using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using SmtpServer;
using SmtpServer.ComponentModel;
using SmtpServer.Mail;
using SmtpServer.Net;
using SmtpServer.Protocol;
using SmtpServer.Storage;

namespace AyTrack.LoopbackWorld;

/// <summary>A message as a sink received it.</summary>
public sealed record ReceivedMessage(string Sink, string From, IReadOnlyList<string> To, byte[] Data, Guid SessionId, bool Secure)
{
    public string Text => System.Text.Encoding.UTF8.GetString(Data);

    public MimeKit.MimeMessage Parse() => MimeKit.MimeMessage.Load(new MemoryStream(Data));
}

/// <summary>
/// A receiving SMTP server on a loopback address (the SmtpServer library), standing in for a domain's MX. It records
/// what it receives and can be told to refuse: per recipient (RCPT reply) or for the whole message (DATA reply).
/// </summary>
public sealed class SmtpSink : IAsyncDisposable
{
    private readonly ConcurrentQueue<ReceivedMessage> _received = new();
    private readonly SemaphoreSlim _arrivals = new(0);
    private readonly SmtpServer.SmtpServer _server;
    private readonly Task _running;
    private int _sessions;

    private SmtpSink(string name, IPEndPoint endpoint, X509Certificate2? certificate, System.Security.Authentication.SslProtocols protocols)
    {
        Name = name;
        var bound = new TaskCompletionSource<IPEndPoint>(TaskCreationOptions.RunContinuationsAsynchronously);
        var options = new SmtpServerOptionsBuilder()
            .ServerName(name)
            .Endpoint(e =>
            {
                e.Endpoint(endpoint);
                if (certificate is not null)
                {
                    e.Certificate(certificate);
                    e.SupportedSslProtocols(protocols);
                }
            })
            .Build();
        var listenerFactory = new EndpointListenerFactory();
        listenerFactory.EndpointStarted += (_, e) => bound.TrySetResult((IPEndPoint)e.LocalEndPoint);
        var services = new ServiceProvider();
        services.Add(listenerFactory);
        services.Add(new Filter(this));
        services.Add(new Store(this));
        _server = new SmtpServer.SmtpServer(options, services);
        _server.SessionCreated += (_, _) => Interlocked.Increment(ref _sessions);
        _running = _server.StartAsync(CancellationToken.None);
        var finished = Task.WhenAny(bound.Task, _running).GetAwaiter().GetResult();
        if (finished != bound.Task)
        {
            _running.GetAwaiter().GetResult();
            throw new InvalidOperationException($"sink {name} could not bind {endpoint}");
        }

        Endpoint = bound.Task.Result;
    }

    public string Name { get; }

    public IPEndPoint Endpoint { get; }

    /// <summary>Sessions opened so far (connection reuse shows as fewer sessions than messages).</summary>
    public int SessionCount => Volatile.Read(ref _sessions);

    public IReadOnlyList<ReceivedMessage> Received => _received.ToArray();

    /// <summary>Decides the RCPT reply per recipient; null accepts.</summary>
    public Func<string, SmtpResponse?> RecipientReply { get; set; } = _ => null;

    /// <summary>Awaited before each message is stored: lets a test hold a session open at a known point.</summary>
    public Func<Task>? BeforeAccept { get; set; }

    /// <summary>Decides the reply to the end of DATA per message; null accepts.</summary>
    public Func<IReadOnlyList<string>, SmtpResponse?> DataReply { get; set; } = _ => null;

    public static SmtpSink Start(string name, IPEndPoint endpoint, X509Certificate2? certificate = null,
        System.Security.Authentication.SslProtocols protocols = System.Security.Authentication.SslProtocols.Tls12 | System.Security.Authentication.SslProtocols.Tls13) =>
        new(name, endpoint, certificate, protocols);

    /// <summary>Waits until at least <paramref name="count"/> messages have arrived, or fails after <paramref name="timeout"/>.</summary>
    public async Task<IReadOnlyList<ReceivedMessage>> WaitForAsync(int count, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (_received.Count < count)
        {
            try
            {
                await _arrivals.WaitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"sink {Name} received {_received.Count} of {count} messages within {timeout}");
            }
        }

        return Received;
    }

    /// <summary>Forgets what was received (for a second run against the same sink).</summary>
    public void Reset()
    {
        _received.Clear();
        while (_arrivals.CurrentCount > 0)
        {
            _arrivals.Wait(0);
        }
    }

    /// <summary>Waits until messages with all these Message-IDs have arrived (duplicates allowed: delivery is at-least-once).</summary>
    public async Task<IReadOnlyList<ReceivedMessage>> WaitForMessageIdsAsync(IEnumerable<string> messageIds, TimeSpan timeout)
    {
        var wanted = messageIds.ToHashSet(StringComparer.Ordinal);
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            var received = Received;
            var missing = wanted.Except(received.Select(m => m.Parse().MessageId ?? string.Empty)).Count();
            if (missing == 0)
            {
                return received;
            }

            try
            {
                await _arrivals.WaitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"sink {Name} is still missing {missing} of {wanted.Count} messages after {timeout}");
            }
        }
    }

    /// <summary>A self-signed certificate for a sink that offers STARTTLS.</summary>
    public static X509Certificate2 CreateCertificate(string subject)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest($"CN={subject}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(subject);
        request.CertificateExtensions.Add(san.Build());
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        // Round-trip through PKCS#12 so SslStream on Linux can use the private key.
        return X509CertificateLoader.LoadPkcs12(cert.Export(X509ContentType.Pfx), null);
    }

    public async ValueTask DisposeAsync()
    {
        _server.Shutdown();
        try
        {
            await _running.WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (TimeoutException)
        {
            // Sessions a test left hanging are abandoned with the sink.
        }
    }

    private sealed class Filter(SmtpSink sink) : IMailboxFilter
    {
        public Task<bool> CanAcceptFromAsync(ISessionContext context, IMailbox from, int size, CancellationToken cancellationToken) =>
            Task.FromResult(true);

        public Task<bool> CanDeliverToAsync(ISessionContext context, IMailbox to, IMailbox from, CancellationToken cancellationToken)
        {
            var reply = sink.RecipientReply($"{to.User}@{to.Host}");
            return reply is null ? Task.FromResult(true) : throw new SmtpResponseException(reply);
        }
    }

    private sealed class Store(SmtpSink sink) : MessageStore
    {
        public override async Task<SmtpResponse> SaveAsync(ISessionContext context, IMessageTransaction transaction,
            ReadOnlySequence<byte> buffer, CancellationToken cancellationToken)
        {
            // The library hands over the data without the CRLF that precedes the terminating dot (RFC 5321 §4.1.1.4
            // counts it as part of the message), so it is put back.
            byte[] data = [.. buffer.ToArray(), (byte)'\r', (byte)'\n'];
            if (sink.BeforeAccept is { } hold)
            {
                await hold();
            }

            var to = transaction.To.Select(m => $"{m.User}@{m.Host}").ToList();
            var reply = sink.DataReply(to);
            if (reply is not null)
            {
                return reply;
            }

            var from = transaction.From.AsAddress() ?? string.Empty;
            sink._received.Enqueue(new ReceivedMessage(sink.Name, from, to, data, context.SessionId, context.Pipe.IsSecure));
            sink._arrivals.Release();
            return new SmtpResponse(SmtpReplyCode.Ok, $"2.0.0 Ok: stored by {sink.Name}");
        }
    }
}
