using System.Text.Json;
using AyTrack.Core.Configuration;
using AyTrack.Core.Delivery;
using AyTrack.Core.Shaping;

namespace AyTrack.Node;

/// <summary>
/// Runs the node's site shaping: loads the rules (AyTrack:Delivery:ShapingPath after the shipped ones) and reloads
/// them when the file changes or an operator asks (a bad file keeps the rules in force); sweeps the
/// <see cref="SiteLimiter"/> every second (ended suspensions and reductions, idle sessions to close, waiting domains
/// to wake); writes every site change to the delivery log; and keeps the suspensions and reductions in force in
/// <c>&lt;DataDir&gt;/site-state.json</c>, so a restart neither forgets nor repeats them.
/// </summary>
public sealed class ShapingService(
    LiveShaping shaping,
    AyTrackOptions options,
    IDeliveryLog deliveryLog,
    ILogger<ShapingService> logger,
    TimeProvider clock) : BackgroundService, ISiteOperations
{
    private static readonly TimeSpan SweepEvery = TimeSpan.FromSeconds(1);
    // At most SiteNames.MaxRestricted operator sites of at most ~2.5 KB each, plus what automation rules hold.
    private const long MaxStateFile = 16 * 1024 * 1024;
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    private readonly string _path = options.Delivery.ShapingPath;
    private readonly string _statePath = Path.Combine(options.FullDataDir, "site-state.json");
    private readonly Lock _reloadLock = new();
    private readonly Lock _persistLock = new();
    private FileWatch? _watch;
    private long _written = -1;

    /// <summary>The rules of <paramref name="options"/>, checked against its egress pools; a FormatException names the line and field.</summary>
    public static ShapingRules LoadRules(AyTrackOptions options)
    {
        var rules = ShapingRulesFile.Load(options.Delivery.ShapingPath);
        var pools = options.Egress.Pools.Select(p => p.Name.Trim()).ToHashSet(StringComparer.OrdinalIgnoreCase);
        if (rules.Entries.FirstOrDefault(e => e.Pool is not null && !pools.Contains(e.Pool)) is { } entry)
        {
            throw new FormatException($"{options.Delivery.ShapingPath} line {entry.Line}: pool: '{entry.Pool}' is not in AyTrack:Egress:Pools");
        }

        return rules;
    }

    /// <summary>Reads the rules file again; on a problem the rules in force stay and the problem is returned.</summary>
    public (bool Reloaded, int Entries, string? Problem) Reload()
    {
        lock (_reloadLock)
        {
            try
            {
                var rules = LoadRules(options);
                shaping.Rules = rules;
                logger.LogInformation("Shaping rules reloaded{From}: {Count} entries", string.IsNullOrWhiteSpace(_path) ? string.Empty : $" from {_path}",
                    rules.Entries.Count);
                return (true, rules.Entries.Count, null);
            }
            catch (Exception error) when (error is FormatException or IOException or UnauthorizedAccessException)
            {
                logger.LogError("Shaping rules not reloaded, the rules in force stay: {Problem}", error.Message);
                return (false, shaping.Rules.Entries.Count, error.Message);
            }
        }
    }

    /// <summary>
    /// An operator's suspension: in force at once, in the delivery log, written down. Null when the site is not
    /// restricted yet and the node already holds <see cref="SiteNames.MaxRestricted"/> restricted sites.
    /// </summary>
    public SiteChange? Suspend(string site, TimeSpan duration, string reason)
    {
        var restricted = shaping.Limiter.Restrictions();
        if (restricted.Count >= SiteNames.MaxRestricted && !restricted.Any(r => r.Site == site))
        {
            logger.LogWarning("Refused to suspend {Site}: this node already holds {Count} suspended or reduced sites", site, restricted.Count);
            return null;
        }

        var change = shaping.Limiter.Suspend(site, duration, reason);
        Record([change]);
        return change;
    }

    /// <summary>An operator's suspension made on another node: until the same time (at least a second from now).</summary>
    public SiteChange? Suspend(string site, DateTimeOffset until, string reason) =>
        Suspend(site, TimeSpan.FromSeconds(Math.Max(1, (until - clock.GetUtcNow()).TotalSeconds)), reason);

    /// <summary>An operator's resume; null when the site was not suspended.</summary>
    public SiteChange? Resume(string site, string reason)
    {
        if (shaping.Limiter.Resume(site, reason) is not { } resumed)
        {
            return null;
        }

        Record([resumed.Change]);
        SiteLimiter.Wake(resumed.Wake);
        return resumed.Change;
    }

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        Restore();
        _watch = FileWatch.Start(_path, () => Reload());

        return base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(SweepEvery);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                SweepOnce();
            }
        }
        catch (OperationCanceledException)
        {
            // The node is stopping.
        }
    }

    /// <summary>One sweep: close what is over, wake who can go, log and write down what changed.</summary>
    public void SweepOnce()
    {
        var sweep = shaping.Limiter.Sweep();
        foreach (var session in sweep.ToClose)
        {
            _ = CloseAsync(session);
        }

        SiteLimiter.Wake(sweep.ToWake);
        if (sweep.Changes.Count > 0)
        {
            Record(sweep.Changes, write: false);
        }

        Persist();
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        Persist();
        await Task.WhenAll(shaping.Limiter.CloseIdle().Select(CloseAsync));
    }

    public override void Dispose()
    {
        _watch?.Dispose();
        base.Dispose();
    }

    private void Record(IReadOnlyList<SiteChange> changes, bool write = true)
    {
        deliveryLog.Write(changes.Select(DeliveryLogEntry.ForSite));
        foreach (var change in changes)
        {
            logger.LogWarning("Site {Site} {What}{Until}: {Reason}", change.Site, change.What,
                change.Until is { } until ? $" until {until:u}" : string.Empty, change.Reason);
        }

        if (write)
        {
            Persist();
        }
    }

    private async Task CloseAsync(IPooledSession session)
    {
        try
        {
            await session.DisposeAsync();
        }
        catch (Exception error)
        {
            logger.LogDebug("Closing an idle session failed: {Error}", error.Message);
        }
    }

    private void Persist()
    {
        // The sweep and an operator's request can both get here: one writer at a time for the file and its temporary.
        lock (_persistLock)
        {
            PersistLocked();
        }
    }

    private void PersistLocked()
    {
        var version = shaping.Limiter.Version;
        if (version == Interlocked.Read(ref _written))
        {
            return;
        }

        try
        {
            var temporary = _statePath + ".tmp";
            File.WriteAllText(temporary, JsonSerializer.Serialize(shaping.Limiter.Restrictions().Select(StoredRestriction.From), Json));
            File.Move(temporary, _statePath, overwrite: true);
            Interlocked.Exchange(ref _written, version);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            logger.LogError("Could not write the site suspensions and reductions to {Path}: {Error}", _statePath, error.Message);
        }
    }

    private void Restore()
    {
        if (!File.Exists(_statePath))
        {
            return;
        }

        try
        {
            if (new FileInfo(_statePath).Length > MaxStateFile)
            {
                throw new InvalidDataException($"larger than {MaxStateFile} bytes");
            }

            var stored = JsonSerializer.Deserialize<List<StoredRestriction>>(File.ReadAllText(_statePath), Json) ?? [];
            shaping.Limiter.Restore(stored.Where(s => !string.IsNullOrWhiteSpace(s.Site)).Select(s => s.ToRestriction()));
            Interlocked.Exchange(ref _written, shaping.Limiter.Version);
            if (stored.Count > 0)
            {
                logger.LogInformation("Site suspensions and reductions restored from {Path}: {Count} site(s)", _statePath, stored.Count);
            }
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException or JsonException or InvalidDataException)
        {
            logger.LogError("Could not read the site suspensions and reductions from {Path} ({Error}); starting without them", _statePath, error.Message);
        }
    }

    /// <summary>The file's shape: rates as text ("600/h"), so the file reads as the rules do.</summary>
    private sealed record StoredRestriction(string Site, DateTimeOffset? SuspendedUntil, string? SuspendedBecause, int? ReducedLimit,
        string? ReducedRate, DateTimeOffset? ReducedUntil, string? ReducedBecause)
    {
        public static StoredRestriction From(SiteRestriction r) => new(r.Site, r.SuspendedUntil, r.SuspendedBecause, r.ReducedLimit,
            r.ReducedRate?.ToString(), r.ReducedUntil, r.ReducedBecause);

        public SiteRestriction ToRestriction() => new(Site, SuspendedUntil, SuspendedBecause, ReducedLimit,
            MessageRate.TryParse(ReducedRate, out var rate) ? rate : null, ReducedUntil, ReducedBecause);
    }
}
