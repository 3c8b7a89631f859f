using System.Net;
using AyTrack.Core.Configuration;
using AyTrack.Core.Spool;
using Microsoft.Extensions.Logging;
using SmtpServer;
using SmtpServer.ComponentModel;
using SmtpServer.Net;

namespace AyTrack.Smtp.Listener;

/// <summary>
/// The SMTP listener (SmtpServer library): ESMTP with SIZE, PIPELINING, 8BITMIME and SMTPUTF8, relaying only for
/// <see cref="ListenerOptions.AllowedNetworks"/>, accepting into the spool.
/// </summary>
public sealed class SmtpListener : IAsyncDisposable
{
    private readonly SmtpServer.SmtpServer _server;
    private readonly TaskCompletionSource<IPEndPoint> _bound = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ILogger _logger;
    private readonly ListenerGate _gate = new();
    private readonly TimeSpan _shutdownGrace;
    private Task? _running;

    public SmtpListener(ListenerOptions options, ISpool spool, ILoggerFactory loggerFactory)
    {
        _logger = loggerFactory.CreateLogger<SmtpListener>();
        var serverName = options.EffectiveServerName;
        var allowed = options.AllowedNetworkList;
        var endpoint = options.ParsedEndpoint;
        _shutdownGrace = options.ShutdownGrace;

        var serverOptions = new SmtpServerOptionsBuilder()
            .ServerName(serverName)
            .Endpoint(e => e.Endpoint(endpoint))
            // Ignore: the library's Strict mode drops the connection without a reply, so the size is checked on the
            // data in SpoolMessageStore and answered with 552 5.3.4; the value is still advertised as SIZE.
            .MaxMessageSize(options.MaxMessageSize, MaxMessageSizeHandling.Ignore)
            .MaxRetryCount(20)
            .CommandWaitTimeout(TimeSpan.FromMinutes(5))
            .CustomSmtpGreeting(_ => _gate.Stopping ? $"421 4.3.2 {serverName} is shutting down, try again later" : $"220 {serverName} ESMTP AyTrack")
            .Build();

        var listenerFactory = new NoDelayListenerFactory();
        listenerFactory.EndpointStarted += (_, e) => _bound.TrySetResult((IPEndPoint)e.LocalEndPoint);

        var services = new ServiceProvider();
        services.Add(listenerFactory);
        services.Add(new ListenerPolicy(options, allowed, _gate));
        services.Add(new SpoolMessageStore(spool, options, serverName, loggerFactory.CreateLogger<SpoolMessageStore>()));

        _server = new SmtpServer.SmtpServer(serverOptions, services);
        _server.SessionCreated += (_, e) =>
        {
            SessionState.Track(e.Context);
            _gate.Opened(e.Context);
        };
        _server.SessionCompleted += (_, e) => _gate.Closed(e.Context);
        _server.SessionCancelled += (_, e) => _gate.Closed(e.Context);
        _server.SessionFaulted += (_, e) =>
        {
            _gate.Closed(e.Context);
            _logger.LogWarning(e.Exception, "SMTP session faulted");
        };
    }

    /// <summary>The address actually bound (port 0 in the configuration picks a free port).</summary>
    public Task<IPEndPoint> BoundEndpoint => _bound.Task;

    public async Task<IPEndPoint> StartAsync(CancellationToken cancellationToken)
    {
        _running = _server.StartAsync(CancellationToken.None);
        var finished = await Task.WhenAny(_bound.Task, _running).WaitAsync(cancellationToken);
        if (finished == _running)
        {
            await _running;
            throw new InvalidOperationException("the SMTP listener stopped before it was bound");
        }

        var bound = await _bound.Task;
        _logger.LogInformation("SMTP listener on {Endpoint}", bound);
        return bound;
    }

    /// <summary>
    /// Graceful stop: new sessions get 421 4.3.2 and no new transaction starts; transactions under way get up to
    /// AyTrack:Listener:ShutdownGrace to finish (a message whose data is in is stored and answered); then the
    /// remaining idle sessions are closed.
    /// </summary>
    public async Task StopAsync()
    {
        _gate.Stop();
        var deadline = DateTime.UtcNow + _shutdownGrace;
        while (_gate.SessionsInTransaction > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        if (_gate.SessionsInTransaction > 0)
        {
            _logger.LogWarning("{Count} SMTP transaction(s) still open after {Grace}; closing them (their clients keep the mail)",
                _gate.SessionsInTransaction, _shutdownGrace);
        }

        _server.Shutdown();
        if (_running is not null)
        {
            try
            {
                await _running.WaitAsync(TimeSpan.FromSeconds(30));
            }
            catch (Exception error) when (error is TimeoutException or OperationCanceledException)
            {
                _logger.LogWarning("SMTP sessions still open at shutdown were abandoned");
            }
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync();
}
