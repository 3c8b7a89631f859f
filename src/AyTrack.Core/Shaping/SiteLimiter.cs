namespace AyTrack.Core.Shaping;

/// <summary>Why a session to a site may not open now.</summary>
public enum SiteVerdict
{
    Granted,

    /// <summary>The site's connection limit (or its reduction) is reached: wait for a session to end.</summary>
    Full,

    /// <summary>The site is suspended (an automation rule or an operator) until <see cref="SiteGrant.RetryAt"/>.</summary>
    Suspended,
}

/// <summary>
/// A session kept open after its batch for the next one to the same site (Postfix's connection cache, KumoMTA's
/// idle connections). Closing it says QUIT. Its <see cref="Key"/> says what it was opened for (route, address,
/// source, TLS): a batch that needs something else closes it and opens its own.
/// </summary>
public interface IPooledSession : IAsyncDisposable
{
    string Key { get; }

    /// <summary>Messages sent over it so far: a session carries at most messagesPerConnection in its life.</summary>
    int Delivered { get; }
}

/// <summary>The answer to a request for a session: a lease when granted, else until when to wait at most.</summary>
public sealed record SiteGrant(SiteVerdict Verdict, SiteLease? Lease, DateTimeOffset? RetryAt);

/// <summary>A site as the limiter holds it now: for /api/sites and the delivery log.</summary>
public sealed record SiteStatus(
    string Site,
    int Open,
    int Idle,
    int Limit,
    string LimitReason,
    MessageRate? Rate,
    DateTimeOffset? SuspendedUntil,
    string? SuspendedBecause,
    DateTimeOffset? ReducedUntil,
    IReadOnlyList<string> Domains,
    int Waiting,
    DateTimeOffset LastUsed);

/// <summary>A suspension or reduction that began or ended, for the delivery log and the persisted site state.</summary>
public sealed record SiteChange(string Site, string What, string Reason, DateTimeOffset At, DateTimeOffset? Until);

/// <summary>A suspension or reduction in force, as the node keeps it across restarts.</summary>
public sealed record SiteRestriction(
    string Site,
    DateTimeOffset? SuspendedUntil,
    string? SuspendedBecause,
    int? ReducedLimit,
    MessageRate? ReducedRate,
    DateTimeOffset? ReducedUntil,
    string? ReducedBecause);

/// <summary>What a sweep found: changes to log, idle sessions to close (outside the lock), waiting domains to wake.</summary>
public sealed record SiteSweep(IReadOnlyList<SiteChange> Changes, IReadOnlyList<IPooledSession> ToClose, IReadOnlyList<Action> ToWake);

/// <summary>
/// A delivery slot of one site, held from the domain actor's dispatch until the session ends: released, or parked
/// with its session for the next batch (the slot stays taken until that session is reused or closed).
/// </summary>
public sealed class SiteLease
{
    private readonly SiteLimiter _owner;
    private IPooledSession? _idle;
    private int _done;

    internal SiteLease(SiteLimiter owner, SiteShaping shaping, IPooledSession? idle)
    {
        _owner = owner;
        Shaping = shaping;
        _idle = idle;
    }

    public string Site => Shaping.Site;

    public SiteShaping Shaping { get; }

    /// <summary>The limiter the slot belongs to: automation rules suspend or reduce the site there.</summary>
    public SiteLimiter Limiter => _owner;

    /// <summary>The idle session this lease took over, once (null: open a new one).</summary>
    public IPooledSession? TakeIdle() => Interlocked.Exchange(ref _idle, null);

    /// <summary>
    /// Keeps <paramref name="session"/> open for the next batch of the site, for its idleConnectionTimeout; the slot
    /// stays counted toward connectionLimit (not toward timing.threads). False when the lease is already over (the
    /// caller closes the session).
    /// </summary>
    public bool Park(IPooledSession session) =>
        Interlocked.Exchange(ref _done, 1) == 0 && _owner.Park(this, session);

    /// <summary>Gives the slot back; a no-op after <see cref="Park"/> or a first release.</summary>
    public void Release()
    {
        if (Interlocked.Exchange(ref _done, 1) != 0)
        {
            return;
        }

        // An idle session taken over and never used goes back to the pool with the slot it holds.
        if (Interlocked.Exchange(ref _idle, null) is { } unused)
        {
            if (!_owner.Park(this, unused))
            {
                _ = unused.DisposeAsync().AsTask().ContinueWith(_ => { }, TaskScheduler.Default);
            }

            return;
        }

        _owner.Release(this);
    }
}

/// <summary>
/// The delivery slots of each site on this node: sessions open (busy or kept idle for the next batch, both count
/// toward the site's connection limit), the site's message rate, suspensions and temporary reductions, each ending by
/// itself at its time, and the domains waiting for a slot. Thread-safe; pure apart from the clock, so the rules are
/// tested without a network. The node sweeps it every second (<see cref="Sweep"/>) to close idle sessions whose time
/// is over and to wake domains a freed slot or an ended suspension lets go.
/// </summary>
public sealed class SiteLimiter(TimeProvider clock)
{
    /// <summary>How long a site nobody used stays in the list after its last session.</summary>
    public static readonly TimeSpan Remembered = TimeSpan.FromHours(1);

    private const int DomainsShown = 50;

    private readonly Dictionary<string, State> _sites = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private long _version;

    private sealed class State
    {
        public int Open { get; set; }

        public List<(IPooledSession Session, DateTimeOffset Until)> Idle { get; } = [];

        public int Limit { get; set; } = 1;

        /// <summary>The rule entries the limit came from, as the last request saw them (joined only for the status).</summary>
        public IReadOnlyList<string> LimitFrom { get; set; } = [];

        /// <summary>The rate the rules give (this node's share), before any reduction.</summary>
        public MessageRate? Rate { get; set; }

        public double Tokens { get; set; } = double.NaN;

        public DateTimeOffset TokensAt { get; set; }

        public DateTimeOffset? SuspendedUntil { get; set; }

        public string? SuspendedBecause { get; set; }

        public int? ReducedLimit { get; set; }

        public MessageRate? ReducedRate { get; set; }

        public DateTimeOffset? ReducedUntil { get; set; }

        public string? ReducedBecause { get; set; }

        public LinkedList<string> Domains { get; } = new();

        /// <summary>Domains waiting for a slot, first come first woken; one entry per domain.</summary>
        public List<(string Domain, Action Wake)> Waiting { get; } = [];

        public DateTimeOffset LastUsed { get; set; }
    }

    /// <summary>Counts changes to suspensions and reductions, so the node knows when to write them down.</summary>
    public long Version => Interlocked.Read(ref _version);

    /// <summary>
    /// A session for <paramref name="domain"/> at its site: an idle one when the site has one, else a new slot under
    /// <paramref name="limit"/> (this node's share, reductions applied). When full or suspended, <paramref name="wake"/>
    /// is remembered and called (once) when a slot frees or the suspension ends.
    /// </summary>
    public SiteGrant Acquire(SiteShaping shaping, int limit, string domain, Action? wake)
    {
        lock (_lock)
        {
            var state = Get(shaping.Site);
            var now = clock.GetUtcNow();
            state.Limit = Math.Max(1, limit);
            state.LimitFrom = shaping.From;
            state.LastUsed = now;
            Remember(state, domain);
            if (state.SuspendedUntil is { } until && until > now)
            {
                Wait(state, domain, wake);
                return new SiteGrant(SiteVerdict.Suspended, null, until);
            }

            if (state.Idle.Count > 0)
            {
                // The most recently parked session is the least likely to have been closed by the server.
                var (session, _) = state.Idle[^1];
                state.Idle.RemoveAt(state.Idle.Count - 1);
                RemoveWaiter(state, domain);
                return new SiteGrant(SiteVerdict.Granted, new SiteLease(this, shaping, session), null);
            }

            if (state.Open >= EffectiveLimit(state, now))
            {
                Wait(state, domain, wake);
                return new SiteGrant(SiteVerdict.Full, null, null);
            }

            state.Open++;
            RemoveWaiter(state, domain);
            return new SiteGrant(SiteVerdict.Granted, new SiteLease(this, shaping, null), null);
        }
    }

    /// <summary>
    /// Takes up to <paramref name="wanted"/> message starts from the site's rate (<paramref name="rate"/>, this node's
    /// share; null: unlimited), a token bucket that holds at most a minute's worth. Returns how many may go now and,
    /// when fewer than wanted, how long until the next one.
    /// </summary>
    public (int Granted, TimeSpan UntilNext) TakeMessages(string site, MessageRate? rate, int wanted)
    {
        lock (_lock)
        {
            var state = Get(site);
            var now = clock.GetUtcNow();
            state.Rate = rate;
            var effective = EffectiveRate(state, rate, now);
            if (effective is not { } r)
            {
                return (wanted, TimeSpan.Zero);
            }

            var perSecond = r.Messages / r.Per.TotalSeconds;
            var capacity = Math.Max(1, perSecond * 60);
            state.Tokens = double.IsNaN(state.Tokens) ? capacity : Math.Min(capacity, state.Tokens + Math.Max(0, (now - state.TokensAt).TotalSeconds) * perSecond);
            state.TokensAt = now;
            var granted = Math.Min(wanted, (int)Math.Floor(state.Tokens));
            state.Tokens -= granted;
            var until = state.Tokens >= 1 ? TimeSpan.Zero : TimeSpan.FromSeconds((1 - state.Tokens) / perSecond);
            return (granted, until);
        }
    }

    internal void Release(SiteLease lease)
    {
        List<Action> wakes;
        lock (_lock)
        {
            if (!_sites.TryGetValue(lease.Site, out var state) || state.Open == 0)
            {
                return;
            }

            state.Open--;
            wakes = Wakeable(state, clock.GetUtcNow());
        }

        Wake(wakes);
    }

    internal bool Park(SiteLease lease, IPooledSession session)
    {
        List<Action> wakes = [];
        bool parked;
        lock (_lock)
        {
            var now = clock.GetUtcNow();
            if (!_sites.TryGetValue(lease.Site, out var state))
            {
                return false;
            }

            // Suspended, reuse off, or over a (reduced) limit: the caller closes it and the slot is freed.
            parked = !(state.SuspendedUntil is { } until && until > now) && lease.Shaping.IdleConnectionTimeout > TimeSpan.Zero
                     && state.Open <= EffectiveLimit(state, now);
            if (parked)
            {
                state.Idle.Add((session, now + lease.Shaping.IdleConnectionTimeout));
                state.LastUsed = now;
            }
            else if (state.Open > 0)
            {
                state.Open--;
            }

            wakes = Wakeable(state, now);
        }

        // A domain waiting for this site can take the parked session (or the freed slot) at once.
        Wake(wakes);
        return parked;
    }

    /// <summary>A domain that stops (passivated, handed off) leaves the site's waiting list: its wake-up would reach nobody.</summary>
    public void StopWaiting(string site, string domain)
    {
        lock (_lock)
        {
            if (_sites.TryGetValue(site, out var state))
            {
                RemoveWaiter(state, domain);
            }
        }
    }

    /// <summary>Calls the wake-ups a release or a park made possible (outside any lock).</summary>
    public static void Wake(IReadOnlyList<Action> wakes)
    {
        foreach (var wake in wakes)
        {
            wake();
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

            state.LastUsed = now;
            Interlocked.Increment(ref _version);
            return new SiteChange(site, "suspended", state.SuspendedBecause!, now, state.SuspendedUntil);
        }
    }

    /// <summary>Ends a suspension now (an operator's resume); null when the site was not suspended.</summary>
    public (SiteChange Change, IReadOnlyList<Action> Wake)? Resume(string site, string reason)
    {
        lock (_lock)
        {
            var now = clock.GetUtcNow();
            if (!_sites.TryGetValue(site, out var state) || state.SuspendedUntil is not { } until || until <= now)
            {
                return null;
            }

            state.SuspendedUntil = null;
            state.SuspendedBecause = null;
            Interlocked.Increment(ref _version);
            return (new SiteChange(site, "resumed", reason, now, null), Wakeable(state, now));
        }
    }

    /// <summary>
    /// Lowers the site's connection limit and/or message rate for <paramref name="duration"/>; the lowest of
    /// overlapping reductions holds, and the longest.
    /// </summary>
    public SiteChange Reduce(string site, int? limit, MessageRate? rate, TimeSpan duration, string reason)
    {
        lock (_lock)
        {
            var state = Get(site);
            var now = clock.GetUtcNow();
            var active = state.ReducedUntil is { } until && until > now;
            var current = active ? state.ReducedLimit : null;
            state.ReducedLimit = current is { } a && limit is { } b ? Math.Min(a, b) : current ?? limit;
            state.ReducedRate = active && state.ReducedRate is { } currentRate && rate is { } asked
                ? (currentRate.PerHour <= asked.PerHour ? currentRate : asked)
                : rate ?? (active ? state.ReducedRate : null);
            state.ReducedUntil = active && state.ReducedUntil > now + duration ? state.ReducedUntil : now + duration;
            state.ReducedBecause = reason;
            state.LastUsed = now;
            Interlocked.Increment(ref _version);
            var what = string.Join(" and ", new[]
            {
                state.ReducedLimit is { } l ? $"{l} connection(s)" : null,
                state.ReducedRate is { } r ? $"{r}" : null,
            }.Where(s => s is not null));
            return new SiteChange(site, $"reduced to {what}", reason, now, state.ReducedUntil);
        }
    }

    /// <summary>
    /// The node's once-a-second look: suspensions and reductions whose time is over are cleared (reported once each),
    /// idle sessions past their time, of a suspended site or over a reduced limit are handed back to be closed, and
    /// waiting domains are woken as far as free slots (or idle sessions) allow.
    /// </summary>
    public SiteSweep Sweep()
    {
        var changes = new List<SiteChange>();
        var close = new List<IPooledSession>();
        var wake = new List<Action>();
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
                    state.ReducedRate = null;
                    state.ReducedBecause = null;
                }

                var isSuspended = state.SuspendedUntil is not null;
                var limit = EffectiveLimit(state, now);
                for (var i = state.Idle.Count - 1; i >= 0; i--)
                {
                    if (isSuspended || state.Idle[i].Until <= now || state.Open > limit)
                    {
                        close.Add(state.Idle[i].Session);
                        state.Idle.RemoveAt(i);
                        state.Open--;
                    }
                }

                wake.AddRange(Wakeable(state, now));
                if (state is { Open: 0, SuspendedUntil: null, ReducedUntil: null, Waiting.Count: 0 } && now - state.LastUsed > Remembered)
                {
                    _sites.Remove(site);
                }
            }
        }

        if (changes.Count > 0)
        {
            Interlocked.Increment(ref _version);
        }

        return new SiteSweep(changes, close, wake);
    }

    /// <summary>Every idle session, handed back to be closed (the node's shutdown).</summary>
    public IReadOnlyList<IPooledSession> CloseIdle()
    {
        lock (_lock)
        {
            var all = new List<IPooledSession>();
            foreach (var state in _sites.Values)
            {
                all.AddRange(state.Idle.Select(i => i.Session));
                state.Open -= state.Idle.Count;
                state.Idle.Clear();
            }

            return all;
        }
    }

    public SiteStatus? Status(string site)
    {
        lock (_lock)
        {
            return _sites.TryGetValue(site, out var state) ? StatusOf(site, state, clock.GetUtcNow()) : null;
        }
    }

    /// <summary>Every site this node used in the last hour or holds a suspension or reduction for, busiest first.</summary>
    public IReadOnlyList<SiteStatus> All()
    {
        lock (_lock)
        {
            var now = clock.GetUtcNow();
            return _sites.Select(s => StatusOf(s.Key, s.Value, now)).OrderByDescending(s => s.Open).ThenBy(s => s.Site, StringComparer.Ordinal).ToList();
        }
    }

    /// <summary>For the metrics: sessions busy and idle, and sites suspended and reduced, on this node now.</summary>
    public (int Busy, int Idle, int Suspended, int Reduced) Totals()
    {
        lock (_lock)
        {
            var now = clock.GetUtcNow();
            int busy = 0, idle = 0, suspended = 0, reduced = 0;
            foreach (var state in _sites.Values)
            {
                busy += state.Open - state.Idle.Count;
                idle += state.Idle.Count;
                suspended += state.SuspendedUntil > now ? 1 : 0;
                reduced += state.ReducedUntil > now ? 1 : 0;
            }

            return (busy, idle, suspended, reduced);
        }
    }

    /// <summary>The suspensions and reductions in force, to write down.</summary>
    public IReadOnlyList<SiteRestriction> Restrictions()
    {
        lock (_lock)
        {
            var now = clock.GetUtcNow();
            return _sites.Where(s => s.Value.SuspendedUntil > now || s.Value.ReducedUntil > now)
                .Select(s => new SiteRestriction(s.Key, s.Value.SuspendedUntil, s.Value.SuspendedBecause, s.Value.ReducedLimit,
                    s.Value.ReducedRate, s.Value.ReducedUntil, s.Value.ReducedBecause))
                .ToList();
        }
    }

    /// <summary>Takes back what was written down before a restart; those already over are dropped.</summary>
    public void Restore(IEnumerable<SiteRestriction> restrictions)
    {
        lock (_lock)
        {
            var now = clock.GetUtcNow();
            foreach (var r in restrictions)
            {
                var state = Get(r.Site);
                state.LastUsed = now;
                if (r.SuspendedUntil > now)
                {
                    state.SuspendedUntil = r.SuspendedUntil;
                    state.SuspendedBecause = r.SuspendedBecause;
                }

                if (r.ReducedUntil > now)
                {
                    state.ReducedUntil = r.ReducedUntil;
                    state.ReducedLimit = r.ReducedLimit;
                    state.ReducedRate = r.ReducedRate;
                    state.ReducedBecause = r.ReducedBecause;
                }
            }
        }
    }

    private static SiteStatus StatusOf(string site, State state, DateTimeOffset now)
    {
        var reduced = state.ReducedUntil is { } until && until > now;
        var suspended = state.SuspendedUntil is { } end && end > now;
        return new SiteStatus(site, state.Open, state.Idle.Count, EffectiveLimit(state, now),
            reduced && state.ReducedLimit is not null ? $"reduced ({state.ReducedBecause})" : $"rule ({string.Join(", ", state.LimitFrom.DefaultIfEmpty("configuration defaults"))})",
            EffectiveRate(state, state.Rate, now), suspended ? state.SuspendedUntil : null, suspended ? state.SuspendedBecause : null,
            reduced ? state.ReducedUntil : null, state.Domains.ToList(), state.Waiting.Count, state.LastUsed);
    }

    private static int EffectiveLimit(State state, DateTimeOffset now) =>
        state.ReducedUntil is { } until && until > now && state.ReducedLimit is { } reduced ? Math.Min(state.Limit, reduced) : state.Limit;

    private static MessageRate? EffectiveRate(State state, MessageRate? rate, DateTimeOffset now)
    {
        if (state.ReducedUntil is not { } until || until <= now || state.ReducedRate is not { } reduced)
        {
            return rate;
        }

        return rate is { } configured && configured.PerHour < reduced.PerHour ? configured : reduced;
    }

    /// <summary>The waiting domains a free slot or idle session can serve now, removed from the list.</summary>
    private static List<Action> Wakeable(State state, DateTimeOffset now)
    {
        if (state.Waiting.Count == 0 || state.SuspendedUntil is { } until && until > now)
        {
            return [];
        }

        var free = Math.Max(0, EffectiveLimit(state, now) - state.Open) + state.Idle.Count;
        var woken = state.Waiting.Take(free).Select(w => w.Wake).ToList();
        state.Waiting.RemoveRange(0, woken.Count);
        return woken;
    }

    private static void Wait(State state, string domain, Action? wake)
    {
        if (wake is not null && !state.Waiting.Exists(w => w.Domain == domain))
        {
            state.Waiting.Add((domain, wake));
        }
    }

    private static void RemoveWaiter(State state, string domain)
    {
        var index = state.Waiting.FindIndex(w => w.Domain == domain);
        if (index >= 0)
        {
            state.Waiting.RemoveAt(index);
        }
    }

    private static void Remember(State state, string domain)
    {
        if (state.Domains.Contains(domain))
        {
            return;
        }

        state.Domains.AddFirst(domain);
        if (state.Domains.Count > DomainsShown)
        {
            state.Domains.RemoveLast();
        }
    }

    private State Get(string site)
    {
        if (!_sites.TryGetValue(site, out var state))
        {
            state = new State { LastUsed = clock.GetUtcNow() };
            _sites[site] = state;
        }

        return state;
    }
}
