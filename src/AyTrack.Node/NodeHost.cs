using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Hosting;
using Akka.Cluster.Hosting.SBR;
using Akka.Event;
using Akka.Hosting;
using Akka.Remote.Hosting;
using AyTrack.Actors;
using AyTrack.Core.Configuration;
using AyTrack.Core.Delivery;
using AyTrack.Core.Settings;
using AyTrack.Node.Admin;
using AyTrack.Node.Health;
using AyTrack.Node.Logging;
using AyTrack.Node.Remoting;
using AyTrack.Node.Secrets;
using AyTrack.Node.Storage;
using AyTrack.Smtp.Delivery;
using AyTrack.Smtp.Dns;
using AyTrack.Smtp.Logging;
using AyTrack.Smtp.MtaSts;
using AyTrack.Core.Spool;
using AyTrack.Spool;
using Microsoft.Extensions.Options;
using Microsoft.Data.Sqlite;

namespace AyTrack.Node;

/// <summary>Where a started node listens; filled in as the listeners bind (port 0 picks free ports).</summary>
public sealed class NodeInfo
{
    public System.Net.IPEndPoint? SmtpEndpoint { get; set; }

    /// <summary>The submission listener (AyTrack:Submission:Endpoint) once bound; null when it is off.</summary>
    public System.Net.IPEndPoint? SubmissionEndpoint { get; set; }

    /// <summary>The implicit-TLS submission listener (AyTrack:Submission:TlsEndpoint) once bound; null when it is off.</summary>
    public System.Net.IPEndPoint? SubmissionTlsEndpoint { get; set; }

    public string DataDir { get; init; } = string.Empty;
}

/// <summary>
/// Builds a node: configuration, the spool, the actor system (a one-node cluster unless seed nodes say otherwise),
/// the SMTP listener and the admin HTTP API. Program.cs runs it; integration tests start several in one process.
/// </summary>
public static class NodeHost
{
    public static WebApplication Build(string[] args)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        var options = builder.Configuration.GetSection(AyTrackOptions.SectionName).Get<AyTrackOptions>() ?? new AyTrackOptions();
        AyTrackOptionsValidator.ThrowIfInvalid(options);
        AssemblyPreload.LoadReferencedAssemblies(typeof(NodeHost).Assembly);

        var dataDir = options.FullDataDir;
        var dataDirWarning = DataDirectory.Prepare(dataDir);
        builder.WebHost.UseUrls(options.Admin.Url);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Limits.MaxConcurrentConnections = options.Admin.MaxConnections);
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss ";
        });
        // The health check service logs every unhealthy answer as an error, so each readiness probe during a normal
        // start (before the node has joined its cluster) would look like a failure in the log. The report is what
        // /healthz and /api/health give; each component logs its own problems (storage, relay, cluster) once.
        builder.Logging.AddFilter("Microsoft.Extensions.Diagnostics.HealthChecks.DefaultHealthCheckService", Microsoft.Extensions.Logging.LogLevel.None);

        var services = builder.Services;
        var journal = UsesPostgres(options)
            ? JournalDatabase.Postgres(options.Persistence.ConnectionString)
            : JournalDatabase.Sqlite(SqliteJournalConnectionString(options, dataDir));
        services.AddSingleton(options);
        services.AddSingleton<IValidateOptions<AyTrackOptions>, AyTrackOptionsValidator>();
        services.AddOptions<AyTrackOptions>().BindConfiguration(AyTrackOptions.SectionName).ValidateOnStart();
        // The one clock of the node: actors and the parts that keep time read it, so tests can run them on a fake one.
        var clock = TimeProvider.System;
        services.AddSingleton(clock);
        services.AddSingleton(new NodeInfo { DataDir = dataDir });
        services.AddSingleton(AdminToken.Load(options.Admin.Token, dataDir));
        services.AddSingleton(new MetricsToken(AdminToken.Load(options.Admin.MetricsToken, dataDir, "metrics.token", "AyTrack:Admin:MetricsToken")));
        var metrics = new AyTrack.Core.Metrics.AyTrackMetrics(clock);
        services.AddSingleton(metrics);
        services.AddSingleton(sp => NodeMetrics.Create(metrics));
        services.AddSingleton(new AdminAuthGuard(clock));
        services.AddSingleton<ISpool>(_ => OpenSpool(options, dataDir));
        services.AddSingleton(new MxResolver(options.Dns, clock));
        services.AddHttpClient("suggest");
        services.AddSingleton(sp => new AyTrack.Smtp.Suggest.SuggestService(options.Suggest, sp.GetRequiredService<MxResolver>(),
            () => sp.GetRequiredService<IHttpClientFactory>().CreateClient("suggest"), sp.GetRequiredService<ILogger<AyTrack.Smtp.Suggest.SuggestService>>()));
        services.AddSingleton(new LiveSettings(options.Settings, clock));
        services.AddSingleton(sp => new AyTrack.Core.Dkim.LiveDkimKeys(sp.GetRequiredService<SecretBox>()));
        services.AddSingleton<AyTrack.Smtp.Dkim.MessageSigning>();
        services.AddSingleton(new AyTrack.Core.Users.LiveUsers());
        services.AddSingleton(sp => new AyTrack.Smtp.Listener.SmtpAuthenticator(sp.GetRequiredService<AyTrack.Core.Users.LiveUsers>(), clock));
        services.AddSingleton(new DeliveryRate(clock.GetUtcNow()));
        services.AddSingleton(SecretBox.LoadOrCreate(string.IsNullOrWhiteSpace(options.Secrets.KeyFile)
            ? Path.Combine(dataDir, "secrets.key")
            : Path.GetFullPath(options.Secrets.KeyFile), () => SealedSettingsProbe.FindAsync(journal, CancellationToken.None).GetAwaiter().GetResult()));
        var bounceCategories = new AyTrack.Core.Bounces.BounceClassifier(AyTrack.Core.Bounces.BounceRulesFile.Load(options.Delivery.BounceRulesPath));
        services.AddSingleton(bounceCategories);
        services.AddHostedService(sp => new BounceRulesWatcher(options.Delivery.BounceRulesPath, bounceCategories,
            sp.GetRequiredService<ILogger<BounceRulesWatcher>>()));
        services.AddSingleton(sp => new DeliveryLog(dataDir, options.DeliveryLog, bounceCategories, sp.GetRequiredService<ILogger<DeliveryLog>>(), metrics));
        services.AddSingleton<UnreadableMessages>();
        services.AddSingleton<IDeliveryLog>(sp => sp.GetRequiredService<DeliveryLog>());
        services.AddSingleton(OutboundTrust.Load(options.Delivery.TrustedCaPath));
        services.AddHttpClient(MtaStsPolicies.HttpClientName)
            .ConfigurePrimaryHttpMessageHandler(sp => MtaStsPolicies.CreateHandler(sp.GetRequiredService<MxResolver>(),
                options.Delivery.AllowedDestinationList, sp.GetRequiredService<OutboundTrust>()));
        services.AddSingleton(sp => new MtaStsPolicies(sp.GetRequiredService<MxResolver>(),
            new MtaStsPolicyCache(dataDir, sp.GetRequiredService<ILogger<MtaStsPolicyCache>>()),
            () => sp.GetRequiredService<IHttpClientFactory>().CreateClient(MtaStsPolicies.HttpClientName), options.Delivery.MtaSts, clock,
            sp.GetRequiredService<ILogger<MtaStsPolicies>>()));
        // Site shaping: the rules, the per-site slots of this node, and how a domain's site is found (docs/shaping.md).
        var shaping = new AyTrack.Core.Shaping.LiveShaping(ShapingService.LoadRules(options), options.Delivery.MaxConnectionsPerDestination,
            options.Delivery.BatchSize, new AyTrack.Core.Shaping.SiteLimiter(clock));
        services.AddSingleton(shaping);
        metrics.Sites = shaping.Limiter;
        services.AddSingleton<AyTrack.Core.Shaping.ISiteRouter>(sp => new SiteRouter(sp.GetRequiredService<MxResolver>(),
            sp.GetRequiredService<LiveSettings>(), shaping));
        services.AddSingleton<ShapingService>();
        services.AddSingleton<AyTrack.Core.Shaping.ISiteOperations>(sp => sp.GetRequiredService<ShapingService>());
        services.AddHostedService(sp => sp.GetRequiredService<ShapingService>());
        services.AddSingleton(new EgressSources(options.Egress, options.Listener.EffectiveServerName));
        services.AddSingleton(sp => new DirectMxTransport(
            sp.GetRequiredService<MxResolver>(), sp.GetRequiredService<ISpool>(), options.Delivery,
            sp.GetRequiredService<DeliveryLog>(), options.Listener.EffectiveServerName,
            sp.GetRequiredService<ILogger<DirectMxTransport>>(), sp.GetRequiredService<UnreadableMessages>(),
            sp.GetRequiredService<MtaStsPolicies>(), sp.GetRequiredService<OutboundTrust>(), sp.GetRequiredService<EgressSources>(), shaping));
        services.AddSingleton<RelayHealth>();
        services.AddSingleton(sp => new RelayTransport(sp.GetRequiredService<LiveSettings>(), sp.GetRequiredService<MxResolver>(),
            sp.GetRequiredService<ISpool>(), options.Delivery, sp.GetRequiredService<DeliveryLog>(), sp.GetRequiredService<RelayHealth>(),
            options.Listener.EffectiveServerName, sp.GetRequiredService<ILogger<RelayTransport>>(), sp.GetRequiredService<UnreadableMessages>(),
            sp.GetRequiredService<EgressSources>(), shaping));
        services.AddSingleton<IDeliveryTransport>(sp => new RoutingTransport(sp.GetRequiredService<LiveSettings>(),
            sp.GetRequiredService<DirectMxTransport>(), sp.GetRequiredService<RelayTransport>()));
        services.AddProblemDetails();
        // The listener's grace for open transactions, then the actor system's coordinated shutdown (leave the cluster).
        services.Configure<HostOptions>(o => o.ShutdownTimeout = options.Listener.ShutdownGrace + TimeSpan.FromSeconds(30));

        var cluster = options.Cluster;
        var clusterTls = ClusterTls.Load(cluster, dataDir, clock);
        services.AddSingleton(new ClusterTransport(clusterTls));
        services.AddHostedService<ClusterTransportReport>();
        services.AddAkka(ClusterMembershipOptions.SystemName, (akka, serviceProvider) =>
        {
            // Akka.NET's events become the node's own log lines (AkkaLogBridge), one format for both.
            akka.AddSetup(new AkkaLogBridgeSetup(serviceProvider.GetRequiredService<ILoggerFactory>()));
            akka.ConfigureLoggers(setup =>
                {
                    setup.LogLevel = Akka.Event.LogLevel.InfoLevel;
                    setup.ClearLoggers();
                    setup.AddLogger<AkkaLogBridge>();
                })
                .WithRemoting(new RemoteOptions
                {
                    HostName = cluster.Hostname,
                    Port = cluster.Port,
                    EnableSsl = clusterTls is not null,
                    Ssl = clusterTls?.ToSslOptions()!,
                })
                .WithClustering(new ClusterOptions
                {
                    Roles = [.. cluster.AllRoles],
                    SeedNodes = cluster.IsMultiNode ? cluster.SeedNodes.Where(s => !string.IsNullOrWhiteSpace(s)).Select(s => s.Trim()).ToArray() : null,
                    // Keep-majority: on a partition the larger side downs the smaller one (on a tie, the side with the
                    // lowest address stays), so only one side goes on delivering a domain's mail.
                    SplitBrainResolver = new KeepMajorityOption(),
                })
                .AddHocon($"akka.cluster.split-brain-resolver.stable-after = {(int)cluster.StableAfter.TotalMilliseconds}ms", HoconAddMode.Prepend)
                // Remember-entities is event-sourced (in the journal), so sharding's Distributed Data keeps nothing
                // durable: no LightningDB environment is ever opened (it would be a second store to back up and repair).
                .AddHocon("akka.cluster.sharding.distributed-data.durable.keys = []", HoconAddMode.Prepend);
            akka.AddStartup((system, _) =>
            {
                // The cluster_members gauge reads the membership this node already keeps (Cluster.State), at scrape time.
                var self = Cluster.Get(system);
                metrics.Members = () =>
                {
                    var state = self.State;
                    var counts = state.Members.GroupBy(m => m.Status.ToString().ToLowerInvariant()).ToDictionary(g => g.Key, g => g.Count());
                    counts["unreachable"] = state.Unreachable.Count;
                    return counts;
                };

                // Akka.Remote stops the node (exit code 79) when a TLS handshake it started fails: say which peer
                // and why, in words an operator can act on, before the process goes.
                var shutdown = CoordinatedShutdown.Get(system);
                shutdown.AddTask(CoordinatedShutdown.PhaseBeforeServiceUnbind, "aytrack-explain-tls-stop", () =>
                {
                    if (ClusterTls.IsHandshakeStop(shutdown.ShutdownReason))
                    {
                        system.Log.Error("Stopping (exit code 79): a TLS handshake this node started with a cluster peer failed ({0}). " +
                                         "Last peer refused by this node: {1}. Check AyTrack:Cluster:Tls on both nodes (docs/security.md).",
                            shutdown.ShutdownReason, clusterTls?.LastRefusal ?? "none (the peer refused this node's certificate; see its log)");
                    }

                    return Task.FromResult(Akka.Done.Instance);
                });
            });
            akka.WithAkkaClusterReadinessCheck(tags: NodeHealth.ClusterReadinessTags);
            ConfigurePersistence(akka, options, dataDir);
            akka.AddAyTrackActors(options, ConfiguredSettingPaths(builder.Configuration));
            if (!cluster.IsMultiNode)
            {
                akka.AddStartup((system, _) =>
                {
                    // A single node is a one-node cluster: it joins itself, so the same sharding code runs on one node and many.
                    var self = Cluster.Get(system);
                    self.Join(self.SelfAddress);
                });
            }
        });
        services.AddHostedService<ListenerService>();
        services.AddNodeHealth();
        services.AddHostedService(sp => new JournalRecovery(sp.GetRequiredService<ISpool>(), journal, sp.GetRequiredService<ILogger<JournalRecovery>>()));
        services.AddHostedService(sp => new StartupNotice(dataDirWarning, sp.GetRequiredService<ILogger<StartupNotice>>()));
        services.AddHostedService(sp => new StorageMonitor(sp.GetRequiredService<ISpool>(), journal, sp.GetRequiredService<StorageHealth>(), options,
            sp.GetRequiredService<NodeInfo>(), sp.GetRequiredService<ILogger<StorageMonitor>>()));

        var app = builder.Build();
        // AdminErrors decides the status of what an endpoint throws (413 for an oversized body, 503 for an actor that did not answer).
        app.UseExceptionHandler(new ExceptionHandlerOptions
        {
            StatusCodeSelector = AdminErrors.StatusFor,
        });
        app.UseAdminAuthentication();
        app.UseRequestLimits();

        app.MapNodeHealth();
        app.MapInjectionApi();
        app.MapOperatorApi();
        app.MapCertificatesApi();
        app.MapDkimApi();
        app.MapUsersApi();
        app.MapSitesApi();
        app.MapNodeMetrics();
        app.MapPage();
        return app;
    }

    /// <summary>
    /// The settings' JSON paths that configuration sets (AyTrack:Settings:Timing:Threads → timing.threads), so the
    /// seeded settings can say which values came from configuration and which are defaults.
    /// </summary>
    private static IReadOnlyCollection<string> ConfiguredSettingPaths(IConfiguration configuration)
    {
        var section = configuration.GetSection($"{AyTrackOptions.SectionName}:Settings");
        return section.AsEnumerable(makePathsRelative: true)
            .Where(kv => kv.Value is not null)
            .Select(kv => string.Join('.', kv.Key.Split(':').TakeWhile(p => !int.TryParse(p, out _))
                .Select(p => char.ToLowerInvariant(p[0]) + p[1..])))
            .ToHashSet(StringComparer.Ordinal);
    }

    private static bool UsesPostgres(AyTrackOptions options) =>
        options.Persistence.Provider.Trim().Equals("postgresql", StringComparison.OrdinalIgnoreCase);

    private static ISpool OpenSpool(AyTrackOptions options, string dataDir) => UsesPostgres(options)
        // The node's remoting address names its outbox claims, so a restarted node takes its own rows back at once.
        ? PostgresSpool.OpenAsync(options.Persistence.ConnectionString,
            options.Cluster.Port != 0 ? $"{options.Cluster.Hostname}:{options.Cluster.Port}" : $"{options.Cluster.Hostname}:{Guid.NewGuid():N}")
            .GetAwaiter().GetResult()
        : SqliteSpool.OpenAsync(Path.Combine(dataDir, "spool.db")).GetAwaiter().GetResult();

    private static void ConfigurePersistence(AkkaConfigurationBuilder akka, AyTrackOptions options, string dataDir)
    {
        // Our own journal and snapshot store on Akka.Persistence.Sql's tables (AyTrackJournal): one node's SQLite file, or
        // the cluster's PostgreSQL database (nodes starting together serialise creating its tables).
        akka.AddHocon(UsesPostgres(options)
            ? AyTrackJournal.Hocon("postgresql", options.Persistence.ConnectionString)
            : AyTrackJournal.Hocon("sqlite", PrepareJournal(options, dataDir)), HoconAddMode.Prepend);
    }

    private static string SqliteJournalConnectionString(AyTrackOptions options, string dataDir) =>
        string.IsNullOrWhiteSpace(options.Persistence.ConnectionString)
            ? new SqliteConnectionStringBuilder { DataSource = Path.Combine(dataDir, "journal.db"), DefaultTimeout = 30 }.ToString()
            : options.Persistence.ConnectionString;

    /// <summary>
    /// The journal and snapshot store share one SQLite file, switched to WAL once (the mode is stored in the file);
    /// SQLite's default synchronous=FULL then makes every journal commit durable.
    /// </summary>
    private static string PrepareJournal(AyTrackOptions options, string dataDir)
    {
        var connectionString = SqliteJournalConnectionString(options, dataDir);
        using var connection = new SqliteConnection(connectionString);
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode=WAL;";
        command.ExecuteNonQuery();
        return connectionString;
    }
}

/// <summary>Runs the SMTP listener for the node's lifetime, after the actor system has started.</summary>
public sealed class ListenerService(AyTrackOptions options, ISpool spool, ILoggerFactory loggerFactory, NodeInfo info,
    AyTrack.Smtp.Dkim.MessageSigning signing, AyTrack.Smtp.Listener.SmtpAuthenticator authenticator, AyTrack.Core.Metrics.AyTrackMetrics metrics) : IHostedService
{
    private AyTrack.Smtp.Listener.SmtpListener? _listener;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        // Checked with the other settings before start, so a failure here is a file changed in between: it stops the node.
        var certificate = options.Listener.Tls.Enabled
            ? AyTrack.Smtp.Listener.ListenerCertificate.Load(options.Listener.Tls, loggerFactory.CreateLogger<AyTrack.Smtp.Listener.ListenerCertificate>())
            : null;
        _listener = new AyTrack.Smtp.Listener.SmtpListener(options.Listener, spool, options.FullDataDir, loggerFactory, signing,
            options.Submission, authenticator, certificate, metrics);
        info.SmtpEndpoint = await _listener.StartAsync(cancellationToken);
        info.SubmissionEndpoint = _listener.SubmissionEndpoint;
        info.SubmissionTlsEndpoint = _listener.SubmissionTlsEndpoint;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_listener is not null)
        {
            await _listener.StopAsync();
        }
    }
}

/// <summary>A warning found while the node was being built, before logging existed, said once it does.</summary>
public sealed class StartupNotice(string? warning, ILogger<StartupNotice> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (warning is not null)
        {
            logger.LogWarning("{Warning}", warning);
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
