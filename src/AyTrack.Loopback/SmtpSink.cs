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

namespace AyTrack.Loopback;

/// <summary>How a sink speaks: TLS (STARTTLS, or implicit from the first byte) and optional authentication.</summary>
public sealed record SinkOptions
{
    public X509Certificate2? Certificate { get; init; }

    /// <summary>Implicit TLS (RFC 8314, port 465 style) instead of offering STARTTLS.</summary>
    public bool ImplicitTls { get; init; }

    public System.Security.Authentication.SslProtocols Protocols { get; init; } =
        System.Security.Authentication.SslProtocols.Tls12 | System.Security.Authentication.SslProtocols.Tls13;

    /// <summary>When set, AUTH is offered and required; the function decides which user and password pass.</summary>
    public Func<string, string, bool>? Authenticate { get; init; }
}

/// <summary>A message as a sink received it.</summary>
public sealed record ReceivedMessage(string Sink, string From, IReadOnlyList<string> To, byte[] Data, Guid SessionId, bool Secure)
{
    /// <summary>The user the session authenticated as, if any.</summary>
    public string? User { get; init; }

    /// <summary>The client's address as the sink saw it (the session's source).</summary>
    public IPAddress? RemoteAddress { get; init; }

    /// <summary>The name the client greeted with (EHLO or HELO).</summary>
    public string? Ehlo { get; init; }

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
    private int _open;
    private int _maxOpen;

    private SmtpSink(string name, IPEndPoint endpoint, SinkOptions sink)
    {
        Name = name;
        var bound = new TaskCompletionSource<IPEndPoint>(TaskCreationOptions.RunContinuationsAsynchronously);
        var options = new SmtpServerOptionsBuilder()
            .ServerName(name)
            .Endpoint(e =>
            {
                e.Endpoint(endpoint);
                if (sink.Certificate is not null)
                {
                    e.Certificate(sink.Certificate);
                    e.SupportedSslProtocols(sink.Protocols);
                    e.IsSecure(sink.ImplicitTls);
                }

                if (sink.Authenticate is not null)
                {
                    e.AuthenticationRequired();
                    e.AllowUnsecureAuthentication();
                }
            })
            .Build();
        // Nagle off, as on a production MTA: otherwise each line of a multi-line reply (EHLO) after the first waits
        // for the client's delayed ACK, and the sink, not the client, would set the pace.
        var listenerFactory = new NoDelayListenerFactory();
        listenerFactory.EndpointStarted += (_, e) => bound.TrySetResult((IPEndPoint)e.LocalEndPoint);
        var services = new ServiceProvider();
        services.Add(listenerFactory);
        services.Add(new Filter(this));
        services.Add(new Store(this));
        if (sink.Authenticate is { } authenticate)
        {
            services.Add(new Authenticator(authenticate));
        }
        _server = new SmtpServer.SmtpServer(options, services);
        _server.SessionCreated += (_, created) =>
        {
            var context = created.Context;
            context.CommandExecuting += (_, executing) =>
            {
                if (executing.Command is SmtpServer.Protocol.EhloCommand ehlo)
                {
                    context.Properties[EhloKey] = ehlo.DomainOrAddress;
                }
                else if (executing.Command is SmtpServer.Protocol.HeloCommand helo)
                {
                    context.Properties[EhloKey] = helo.DomainOrAddress;
                }
            };
            Interlocked.Increment(ref _sessions);
            var open = Interlocked.Increment(ref _open);
            int max;
            while (open > (max = Volatile.Read(ref _maxOpen)) && Interlocked.CompareExchange(ref _maxOpen, open, max) != max)
            {
            }
        };
        _server.SessionCompleted += (_, _) => Interlocked.Decrement(ref _open);
        _server.SessionFaulted += (_, _) => Interlocked.Decrement(ref _open);
        _server.SessionCancelled += (_, _) => Interlocked.Decrement(ref _open);
        _running = _server.StartAsync(CancellationToken.None);
        var finished = Task.WhenAny(bound.Task, _running).GetAwaiter().GetResult();
        if (finished != bound.Task)
        {
            _running.GetAwaiter().GetResult();
            throw new InvalidOperationException($"sink {name} could not bind {endpoint}");
        }

        Endpoint = bound.Task.Result;
    }

    private const string EhloKey = "aytrack:ehlo";

    public string Name { get; }

    public IPEndPoint Endpoint { get; }

    /// <summary>Sessions opened so far (connection reuse shows as fewer sessions than messages).</summary>
    public int SessionCount => Volatile.Read(ref _sessions);

    public IReadOnlyList<ReceivedMessage> Received => _received.ToArray();

    /// <summary>The most sessions that were open at the same time.</summary>
    public int MaxConcurrentSessions => Volatile.Read(ref _maxOpen);

    /// <summary>Sessions open now (busy or idle).</summary>
    public int OpenSessions => Volatile.Read(ref _open);

    /// <summary>Decides the RCPT reply per recipient; null accepts.</summary>
    public Func<string, SmtpResponse?> RecipientReply { get; set; } = _ => null;

    /// <summary>Awaited before each message is stored: lets a test hold a session open at a known point.</summary>
    public Func<Task>? BeforeAccept { get; set; }

    /// <summary>Decides the reply to the end of DATA per message; null accepts.</summary>
    public Func<IReadOnlyList<string>, SmtpResponse?> DataReply { get; set; } = _ => null;

    public static SmtpSink Start(string name, IPEndPoint endpoint, X509Certificate2? certificate = null,
        System.Security.Authentication.SslProtocols protocols = System.Security.Authentication.SslProtocols.Tls12 | System.Security.Authentication.SslProtocols.Tls13) =>
        new(name, endpoint, new SinkOptions { Certificate = certificate, Protocols = protocols });

    public static SmtpSink Start(string name, IPEndPoint endpoint, SinkOptions options) => new(name, endpoint, options);

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

    /// <summary>A CA and a server certificate for <paramref name="host"/> that it signed, as a private PKI would issue.</summary>
    public static (X509Certificate2 Ca, X509Certificate2 Server) CreateCaAndServerCertificate(string host)
    {
        using var caKey = RSA.Create(2048);
        var caRequest = new CertificateRequest($"CN=AyTrack Test CA for {host}", caKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        using var caCert = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        var ca = X509CertificateLoader.LoadPkcs12(caCert.Export(X509ContentType.Pfx), null);

        using var key = RSA.Create(2048);
        var request = new CertificateRequest($"CN={host}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(host);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        using var signed = request.Create(ca, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(29), RandomNumberGenerator.GetBytes(8));
        using var withKey = signed.CopyWithPrivateKey(key);
        return (ca, X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pfx), null));
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

    private sealed class Authenticator(Func<string, string, bool> check) : SmtpServer.Authentication.IUserAuthenticator
    {
        public Task<bool> AuthenticateAsync(ISessionContext context, string user, string password, CancellationToken cancellationToken) =>
            Task.FromResult(check(user, password));
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
            var user = context.Authentication.IsAuthenticated ? context.Authentication.User : null;
            sink._received.Enqueue(new ReceivedMessage(sink.Name, from, to, data, context.SessionId, context.Pipe.IsSecure)
            {
                User = user,
                RemoteAddress = context.Properties.TryGetValue(SmtpServer.Net.EndpointListener.RemoteEndPointKey, out var remote)
                    ? (remote as IPEndPoint)?.Address
                    : null,
                Ehlo = context.Properties.TryGetValue(EhloKey, out var ehlo) ? ehlo as string : null,
            });
            sink._arrivals.Release();
            return new SmtpResponse(SmtpReplyCode.Ok, $"2.0.0 Ok: stored by {sink.Name}");
        }
    }
}
