namespace AyTrack.Core.Shaping;

/// <summary>Why a session to a site may not open now.</summary>
public enum SiteVerdict
{
    Granted,

    /// <summary>The site's connection limit (or its reduction) is reached: wait for a session to end.</summary>
    Full,

    /// <summary>The site is suspended (an automation rule or an operator) until <see cref="SiteStatus.SuspendedUntil"/>.</summary>
    Suspended,
}

/// <summary>A site as the limiter holds it now: for /api/sites and the delivery log.</summary>
public sealed record SiteStatus(
    string Site,
    int Open,
    int Limit,
    string LimitReason,
    DateTimeOffset? SuspendedUntil,
    string? SuspendedBecause,
    DateTimeOffset? ReducedUntil);

/// <summary>A suspension or reduction that began or ended, for the delivery log and the persisted site state.</summary>
public sealed record SiteChange(string Site, string What, string Reason, DateTimeOffset At, DateTimeOffset? Until);

/// <summary>
/// The delivery slots of each site on this node: sessions open (busy or kept idle for the next batch, both count),
/// suspensions and temporary reductions, each ending by itself at its time (read from the clock on every call, so no
/// timer is needed for it). Thread-safe; pure apart from the clock, so the rules are tested without a network.
/// </summary>
public sealed class SiteLimiter(TimeProvider clock)
{
    private readonly Dictionary<string, State> _sites = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    private sealed class State
    {
        public int Open { get; set; }

        public DateTimeOffset? SuspendedUntil { get; set; }

        public string? SuspendedBecause { get; set; }

        public int? ReducedLimit { get; set; }

        public DateTimeOffset? ReducedUntil { get; set; }

        public string? ReducedBecause { get; set; }
    }

    /// <summary>Takes a slot when the site is neither suspended nor full under <paramref name="limit"/> (or its reduction).</summary>
    public SiteVerdict TryAcquire(string site, int limit)
    {
        lock (_lock)
        {
            var state = Get(site);
            var now = clock.GetUtcNow();
            if (state.SuspendedUntil is { } until && until > now)
            {
                return SiteVerdict.Suspended;
            }

            if (state.Open >= EffectiveLimit(state, limit, now))
            {
                return SiteVerdict.Full;
            }

            state.Open++;
            return SiteVerdict.Granted;
        }
    }

    public void Release(string site)
    {
        lock (_lock)
        {
            if (_sites.TryGetValue(site, out var state) && state.Open > 0)
            {
                state.Open--;
                Forget(site, state);
            }
        }
    }

    public SiteChange Suspend(string site, TimeSpan duration, string reason)
    {
        lock (_lock)
        {
            var state = Get(site);
            var now = clock.GetUtcNow();
            // A longer suspension is never shortened by a later, shorter one.
            var until = now + duration;
            if (state.SuspendedUntil is not { } current || current < until)
            {
                state.SuspendedUntil = until;
                state.SuspendedBecause = reason;
            }

            return new SiteChange(site, "suspended", state.SuspendedBecause!, now, state.SuspendedUntil);
        }
    }

    public SiteChange? Resume(string site, string reason)
    {
        lock (_lock)
        {
            if (!_sites.TryGetValue(site, out var state) || state.SuspendedUntil is null)
            {
                return null;
            }

            state.SuspendedUntil = null;
            state.SuspendedBecause = null;
            Forget(site, state);
            return new SiteChange(site, "resumed", reason, clock.GetUtcNow(), null);
        }
    }

    /// <summary>Lowers the site's connection limit to <paramref name="limit"/> for <paramref name="duration"/> (the lowest of overlapping reductions holds).</summary>
    public SiteChange Reduce(string site, int limit, TimeSpan duration, string reason)
    {
        lock (_lock)
        {
            var state = Get(site);
            var now = clock.GetUtcNow();
            var active = state.ReducedUntil is { } until && until > now;
            state.ReducedLimit = active ? Math.Min(state.ReducedLimit!.Value, limit) : limit;
            state.ReducedUntil = active && state.ReducedUntil > now + duration ? state.ReducedUntil : now + duration;
            state.ReducedBecause = reason;
            return new SiteChange(site, $"reduced to {state.ReducedLimit} connection(s)", reason, now, state.ReducedUntil);
        }
    }

    /// <summary>Suspensions and reductions whose time is over, cleared and reported once each.</summary>
    public IReadOnlyList<SiteChange> Expire()
    {
        var changes = new List<SiteChange>();
        lock (_lock)
        {
            var now = clock.GetUtcNow();
            foreach (var (site, state) in _sites.ToList())
            {
                if (state.SuspendedUntil is { } suspended && suspended <= now)
                {
                    changes.Add(new SiteChange(site, "resumed", $"suspension over ({state.SuspendedBecause})", now, null));
                    state.SuspendedUntil = null;
                    state.SuspendedBecause = null;
                }

                if (state.ReducedUntil is { } reduced && reduced <= now)
                {
                    changes.Add(new SiteChange(site, "restored", $"reduction over ({state.ReducedBecause})", now, null));
                    state.ReducedUntil = null;
                    state.ReducedLimit = null;
                    state.ReducedBecause = null;
                }

                Forget(site, state);
            }
        }

        return changes;
    }

    public SiteStatus Status(string site, int configuredLimit)
    {
        lock (_lock)
        {
            var now = clock.GetUtcNow();
            var state = _sites.GetValueOrDefault(site) ?? new State();
            var reduced = state.ReducedUntil is { } until && until > now;
            var suspended = state.SuspendedUntil is { } end && end > now;
            return new SiteStatus(site, state.Open, EffectiveLimit(state, configuredLimit, now),
                reduced ? $"reduced ({state.ReducedBecause})" : "rule", suspended ? state.SuspendedUntil : null,
                suspended ? state.SuspendedBecause : null, reduced ? state.ReducedUntil : null);
        }
    }

    private static int EffectiveLimit(State state, int limit, DateTimeOffset now) =>
        state.ReducedUntil is { } until && until > now ? Math.Min(limit, state.ReducedLimit!.Value) : limit;

    private State Get(string site)
    {
        if (!_sites.TryGetValue(site, out var state))
        {
            state = new State();
            _sites[site] = state;
        }

        return state;
    }

    /// <summary>A site with nothing open and nothing in force is dropped, so the map holds only sites in use.</summary>
    private void Forget(string site, State state)
    {
        if (state is { Open: 0, SuspendedUntil: null, ReducedUntil: null })
        {
            _sites.Remove(site);
        }
    }
}
