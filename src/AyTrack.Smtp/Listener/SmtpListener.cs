using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Text;
using AyTrack.Core.Configuration;
using AyTrack.Core.Spool;
using Microsoft.Extensions.Logging;

namespace AyTrack.Smtp.Listener;

/// <summary>Which rules a listening socket's sessions follow.</summary>
public enum ListenerMode
{
    /// <summary>AyTrack:Listener:Endpoint: relays for AllowedNetworks, or for authenticated clients; STARTTLS when a certificate is set.</summary>
    Relay,

    /// <summary>AyTrack:Submission:Endpoint (587, RFC 6409): STARTTLS before AUTH, AUTH before MAIL.</summary>
    Submission,

    /// <summary>AyTrack:Submission:TlsEndpoint (465, RFC 8314): TLS from the first octet, AUTH before MAIL.</summary>
    ImplicitTls,
}

/// <summary>
/// AyTrack's SMTP listeners: ESMTP with SIZE, PIPELINING, 8BITMIME, SMTPUTF8, ENHANCEDSTATUSCODES, DSN, STARTTLS and
/// AUTH on System.IO.Pipelines, accepting into the spool. The relay listener relays for AyTrack:Listener:AllowedNetworks
/// and authenticated clients; the submission listeners only for authenticated ones. All of them share one set of
/// limits: memory, connections and time are bounded by the listener's settings (docs/security.md lists each limit
/// and its reply).
/// </summary>
public sealed class SmtpListener : IAsyncDisposable
{
    /// <summary>The longest pause between accept() attempts while the process is out of descriptors or buffers.</summary>
    private static readonly TimeSpan MaxAcceptBackoff = TimeSpan.FromSeconds(1);

    private readonly ListenerOptions _options;
    private readonly ILogger _logger;
    private readonly SessionServices _services;
    private readonly ConnectionLimiter _limiter;
    private readonly RateLimitedLog _acceptLog = new(TimeSpan.FromSeconds(10));
    private readonly ConcurrentDictionary<SmtpSession, Task> _sessions = new();
    private readonly CancellationTokenSource _shutdown = new();
    private readonly CancellationTokenSource _stopAccepting = new();
    private readonly List<(Socket Socket, Task Loop)> _sockets = [];
    private readonly SubmissionOptions _submission;
    private volatile bool _stopping;

    /// <param name="dataDir">The node's data directory: message data beyond the memory budget spills to its incoming/.</param>
    /// <param name="authenticator">Checks AUTH credentials; null offers no AUTH (and no submission listener can start).</param>
    /// <param name="certificate">The STARTTLS / implicit-TLS certificate; null offers no TLS.</param>
    public SmtpListener(ListenerOptions options, ISpool spool, string dataDir, ILoggerFactory loggerFactory,
        AyTrack.Smtp.Dkim.MessageSigning? signing = null, SubmissionOptions? submission = null,
        SmtpAuthenticator? authenticator = null, ListenerCertificate? certificate = null, AyTrack.Core.Metrics.AyTrackMetrics? metrics = null)
    {
        _options = options;
        _submission = submission ?? new SubmissionOptions();
        _logger = loggerFactory.CreateLogger<SmtpListener>();
        _limiter = new ConnectionLimiter(options.MaxConnections, options.MaxConnectionsPerClient);
        var spillDirectory = Path.Combine(dataDir, "incoming");
        IncomingMessage.CleanDirectory(spillDirectory);
        _services = new SessionServices
        {
            Options = options,
            ServerName = options.EffectiveServerName,
            PostmasterAddress = options.EffectivePostmasterAddress,
            AllowedNetworks = options.AllowedNetworkList,
            ProxyFrom = options.ProxyProtocolNetworkList,
            Spool = spool,
            Budget = new BufferBudget(options.MaxBufferedData),
            SpillDirectory = spillDirectory,
            Limiter = _limiter,
            Logger = _logger,
            ClientWarnings = new RateLimitedLog(TimeSpan.FromMinutes(1)),
            IsStopping = () => _stopping,
            Signing = signing,
            Authenticator = authenticator,
            Certificate = certificate,
            Metrics = metrics,
        };
    }

    /// <summary>Where the submission listener (587) listens once started; null when it is off.</summary>
    public IPEndPoint? SubmissionEndpoint { get; private set; }

    /// <summary>Where the implicit-TLS submission listener (465) listens once started; null when it is off.</summary>
    public IPEndPoint? SubmissionTlsEndpoint { get; private set; }

    /// <summary>Opens every configured listener; returns where the relay listener listens.</summary>
    public Task<IPEndPoint> StartAsync(CancellationToken cancellationToken)
    {
        if ((_submission.ParsedEndpoint is not null || _submission.ParsedTlsEndpoint is not null)
            && (_services.Certificate is null || _services.Authenticator is null))
        {
            throw new InvalidOperationException("The submission listeners need a certificate (AyTrack:Listener:Tls:CertificatePath) and users");
        }

        if (_options.AllowPlaintextAuth)
        {
            _logger.LogWarning("AyTrack:Listener:AllowPlaintextAuth is on: AUTH is offered without TLS, so passwords cross the network in " +
                               "clear. This is for loopback tests only");
        }

        var bound = Listen(_options.ParsedEndpoint, ListenerMode.Relay);
        if (_submission.ParsedEndpoint is { } submission)
        {
            SubmissionEndpoint = Listen(submission, ListenerMode.Submission);
        }

        if (_submission.ParsedTlsEndpoint is { } implicitTls)
        {
            SubmissionTlsEndpoint = Listen(implicitTls, ListenerMode.ImplicitTls);
        }

        WarnIfDescriptorsAreShort();
        return Task.FromResult(bound);
    }

    private IPEndPoint Listen(IPEndPoint endpoint, ListenerMode mode)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (endpoint.AddressFamily == AddressFamily.InterNetworkV6 && endpoint.Address.Equals(IPAddress.IPv6Any))
            {
                socket.DualMode = true;
            }

            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            socket.Bind(endpoint);
            socket.Listen(512);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        var bound = (IPEndPoint)socket.LocalEndPoint!;
        _sockets.Add((socket, Task.Run(() => AcceptLoopAsync(socket, mode), CancellationToken.None)));
        _logger.LogInformation("SMTP {Mode} listener on {Endpoint}", mode switch
        {
            ListenerMode.Submission => "submission",
            ListenerMode.ImplicitTls => "submission (implicit TLS)",
            _ => "relay",
        }, bound);
        return bound;
    }

    /// <summary>
    /// Each session takes a descriptor, and one more while its message spills to disk; the node itself holds about 400.
    /// A process limit below that would turn a busy hour into failed accept() calls, so it is said at start.
    /// </summary>
    private void WarnIfDescriptorsAreShort()
    {
        const string limitsFile = "/proc/self/limits";
        if (!File.Exists(limitsFile))
        {
            return;
        }

        var line = File.ReadLines(limitsFile).FirstOrDefault(l => l.StartsWith("Max open files", StringComparison.Ordinal));
        var fields = line?["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var needed = 2L * _options.MaxConnections + 1024;
        if (fields is { Length: > 0 } && long.TryParse(fields[0], out var soft) && soft < needed)
        {
            _logger.LogWarning("The process may open {Limit} files, but AyTrack:Listener:MaxConnections={Max} needs about {Needed} " +
                               "(a session and a spill file each, and the node's own); raise the limit (LimitNOFILE in the systemd unit, ulimits in compose) " +
                               "or lower MaxConnections", soft, _options.MaxConnections, needed);
        }
    }

    private async Task AcceptLoopAsync(Socket listening, ListenerMode mode)
    {
        var backoff = TimeSpan.Zero;
        var failures = 0;
        while (!_stopAccepting.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listening.AcceptAsync(_stopAccepting.Token);
                backoff = TimeSpan.Zero;
            }
            catch (Exception error) when (error is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException error) when (error.SocketErrorCode is SocketError.ConnectionAborted or SocketError.ConnectionReset)
            {
                // The client gave up between its handshake and our accept(): nothing to do.
                continue;
            }
            catch (SocketException error)
            {
                // EMFILE, ENFILE, ENOBUFS, ENOMEM: the process or the machine is out of something a connection needs.
                // Retrying at once would spin (the pending connection is still there); wait, growing to a second, and
                // serve again as soon as it succeeds.
                failures++;
                if (_acceptLog.ShouldLog("accept", DateTimeOffset.UtcNow, out _))
                {
                    _logger.LogWarning("SMTP listener cannot accept connections: {Error} ({Failures} failed accept() calls in the last 10 s); retrying with back-off",
                        error.Message, failures);
                    failures = 0;
                }

                backoff = backoff == TimeSpan.Zero ? TimeSpan.FromMilliseconds(10) : TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxAcceptBackoff.Ticks));
                try
                {
                    await Task.Delay(backoff, _stopAccepting.Token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                continue;
            }

            Admit(client, mode);
        }
    }

    private void Admit(Socket client, ListenerMode mode)
    {
        client.NoDelay = true;
        var peer = client.RemoteEndPoint is IPEndPoint ip ? Normalize(ip) : new IPEndPoint(IPAddress.None, 0);
        if (!_limiter.TryOpen(peer.Address))
        {
            _services.Warn(peer.Address, "exceeded the connection limits (AyTrack:Listener:MaxConnections / MaxConnectionsPerClient); answered 421 4.7.0");
            _ = RejectAsync(client);
            return;
        }

        var transport = new SessionTransport(new NetworkStream(client, ownsSocket: true));
        var session = new SmtpSession(transport, peer, mode, _services, _shutdown.Token);
        // Registered before it runs, so a session that ends at once is never left behind in the registry.
        var registered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _sessions[session] = RunSessionAsync(session, transport, registered.Task);
        registered.SetResult();
    }

    private async Task RunSessionAsync(SmtpSession session, SessionTransport transport, Task registered)
    {
        await registered;
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            await session.RunAsync();
        }
        catch (Exception error)
        {
            // A fault in our own code, not the client's doing: one line per client per minute, never a loop of traces.
            _services.Warn(session.Peer.Address, $"session ended by an internal error: {error.GetType().Name}: {error.Message}");
        }
        finally
        {
            await transport.CloseAsync();
            _services.Metrics?.SessionEnded(System.Diagnostics.Stopwatch.GetElapsedTime(started));
            _limiter.Close(session.Peer.Address);
            _sessions.TryRemove(session, out _);
        }
    }

    private static async Task RejectAsync(Socket client)
    {
        try
        {
            await using var stream = new NetworkStream(client, ownsSocket: true);
            var reply = ListenerReplies.TooManyConnections;
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"{reply}\r\n"), timeout.Token);
            await SessionTransport.LingerAsync(client);
        }
        catch (Exception error) when (error is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The client is gone already; the connection is closed either way.
        }
    }

    private static IPEndPoint Normalize(IPEndPoint endpoint) =>
        endpoint.Address.IsIPv4MappedToIPv6 ? new IPEndPoint(endpoint.Address.MapToIPv4(), endpoint.Port) : endpoint;

    /// <summary>
    /// Graceful stop: new sessions get 421 4.3.2 and no new transaction starts; transactions under way get up to
    /// AyTrack:Listener:ShutdownGrace to finish (a message whose data is in is stored and answered); then the
    /// remaining sessions are told 421 4.3.2 and closed.
    /// </summary>
    public async Task StopAsync()
    {
        if (_stopping)
        {
            return;
        }

        _stopping = true;
        var deadline = DateTime.UtcNow + _options.ShutdownGrace;
        while (_sessions.Keys.Any(s => s.InTransaction) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        var open = _sessions.Keys.Count(s => s.InTransaction);
        if (open > 0)
        {
            _logger.LogWarning("{Count} SMTP transaction(s) still open after {Grace}; closing them (their clients keep the mail)",
                open, _options.ShutdownGrace);
        }

        _stopAccepting.Cancel();
        foreach (var (socket, loop) in _sockets)
        {
            socket.Dispose();
            await loop;
        }

        _shutdown.Cancel();
        try
        {
            await Task.WhenAll(_sessions.Values).WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch (TimeoutException)
        {
            _logger.LogWarning("SMTP sessions still open at shutdown were abandoned");
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync();
}
