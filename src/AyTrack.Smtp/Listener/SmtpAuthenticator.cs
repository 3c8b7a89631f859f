using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using AyTrack.Core.Users;

namespace AyTrack.Smtp.Listener;

public enum AuthResult
{
    Succeeded,
    Failed,

    /// <summary>Every hash slot stayed busy for <see cref="AuthenticatorLimits.QueueWait"/>: answered 454 4.7.0.</summary>
    Busy,
}

public sealed record AuthenticatorLimits
{
    /// <summary>Password hash checks at once: a slow KDF on two cores is a CPU lever, so the rest wait.</summary>
    public int MaxConcurrentChecks { get; init; } = 2;

    public TimeSpan QueueWait { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>How long a successful login is remembered, so a client that logs in per message pays the KDF once.</summary>
    public TimeSpan CacheFor { get; init; } = TimeSpan.FromMinutes(10);

    public int MaxCachedLogins { get; init; } = 10_000;

    /// <summary>More failures than this within <see cref="FailureWindow"/> from one address lock it out.</summary>
    public int MaxFailures { get; init; } = 10;

    public TimeSpan FailureWindow { get; init; } = TimeSpan.FromMinutes(1);

    public TimeSpan LockoutFor { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>Addresses whose failures are tracked at once; the oldest are forgotten beyond it (the map is bounded).</summary>
    public int MaxTrackedAddresses { get; init; } = 100_000;
}

/// <summary>
/// Checks AUTH credentials against this node's <see cref="LiveUsers"/>, shared by every listener. Bounds the CPU a
/// client can spend (at most <see cref="AuthenticatorLimits.MaxConcurrentChecks"/> KDF runs at once), remembers
/// successful logins by a keyed hash of the credentials (never the password), and locks out an address after too many
/// failures. An unknown user costs the same KDF run as a known one, so the reply time does not tell which names exist.
/// </summary>
public sealed class SmtpAuthenticator
{
    private static readonly Lazy<string> DummyHash = new(() => PasswordHashing.Hash(Convert.ToBase64String(RandomNumberGenerator.GetBytes(16))));

    private readonly LiveUsers _users;
    private readonly TimeProvider _clock;
    private readonly AuthenticatorLimits _limits;
    private readonly Func<string, string, bool> _verify;
    private readonly SemaphoreSlim _slots;
    private readonly byte[] _cacheKey = RandomNumberGenerator.GetBytes(32);
    private readonly ConcurrentDictionary<string, CachedLogin> _cache = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Failures> _failures = new(StringComparer.Ordinal);
    private readonly Lock _failuresLock = new();

    /// <param name="verify">The password check (<see cref="PasswordHashing.Verify"/>); tests give a gated one.</param>
    public SmtpAuthenticator(LiveUsers users, TimeProvider clock, AuthenticatorLimits? limits = null, Func<string, string, bool>? verify = null)
    {
        _users = users;
        _clock = clock;
        _limits = limits ?? new AuthenticatorLimits();
        _verify = verify ?? PasswordHashing.Verify;
        _slots = new SemaphoreSlim(_limits.MaxConcurrentChecks, _limits.MaxConcurrentChecks);
    }

    private sealed record CachedLogin(string Name, string PasswordHash, DateTimeOffset Expires);

    private sealed class Failures
    {
        public Queue<DateTimeOffset> Times { get; } = new();

        public DateTimeOffset LockedUntil { get; set; }

        public DateTimeOffset Last { get; set; }
    }

    /// <summary>Checks the credentials; the user on success.</summary>
    public async Task<(AuthResult Result, SubmissionUser? User)> AuthenticateAsync(string name, string password, CancellationToken cancellationToken)
    {
        if (!_users.Loaded)
        {
            // Just started: the users have not arrived from the users actor yet. A temporary failure, not a wrong password.
            return (AuthResult.Busy, null);
        }

        var user = _users.Find(name);
        var key = CacheKey(name, password);
        var now = _clock.GetUtcNow();
        // A cached login counts only while the user still has the password it was made with: a changed password or a
        // removed user is checked afresh.
        if (_cache.TryGetValue(key, out var cached) && cached.Expires > now && user is not null && cached.PasswordHash == user.PasswordHash)
        {
            return (AuthResult.Succeeded, user);
        }

        if (!await _slots.WaitAsync(_limits.QueueWait, cancellationToken))
        {
            return (AuthResult.Busy, null);
        }

        bool valid;
        try
        {
            valid = _verify(password, user?.PasswordHash ?? DummyHash.Value) && user is not null;
        }
        finally
        {
            _slots.Release();
        }

        if (!valid)
        {
            return (AuthResult.Failed, null);
        }

        if (_cache.Count >= _limits.MaxCachedLogins)
        {
            foreach (var (stale, _) in _cache.Where(e => e.Value.Expires <= now))
            {
                _cache.TryRemove(stale, out _);
            }
        }

        if (_cache.Count < _limits.MaxCachedLogins)
        {
            _cache[key] = new CachedLogin(name, user!.PasswordHash, now + _limits.CacheFor);
        }

        return (AuthResult.Succeeded, user);
    }

    /// <summary>True while <paramref name="client"/> is locked out by its failures.</summary>
    public bool IsLockedOut(IPAddress client)
    {
        lock (_failuresLock)
        {
            return _failures.TryGetValue(Bucket(client), out var failures) && failures.LockedUntil > _clock.GetUtcNow();
        }
    }

    /// <summary>Counts a failed login; true when it puts the address over the limit (it is then locked out).</summary>
    public bool RecordFailure(IPAddress client)
    {
        var now = _clock.GetUtcNow();
        lock (_failuresLock)
        {
            var bucket = Bucket(client);
            if (!_failures.TryGetValue(bucket, out var failures))
            {
                if (_failures.Count >= _limits.MaxTrackedAddresses)
                {
                    Forget(now);
                }

                failures = new Failures();
                _failures[bucket] = failures;
            }

            failures.Last = now;
            failures.Times.Enqueue(now);
            while (failures.Times.Count > 0 && failures.Times.Peek() <= now - _limits.FailureWindow)
            {
                failures.Times.Dequeue();
            }

            if (failures.Times.Count > _limits.MaxFailures)
            {
                failures.LockedUntil = now + _limits.LockoutFor;
                failures.Times.Clear();
                return true;
            }

            return false;
        }
    }

    /// <summary>Drops addresses with no recent failure and no lockout; if none, the least recent half.</summary>
    private void Forget(DateTimeOffset now)
    {
        var idle = _failures.Where(f => f.Value.LockedUntil <= now && f.Value.Last <= now - _limits.FailureWindow).Select(f => f.Key).ToList();
        if (idle.Count == 0)
        {
            idle = _failures.OrderBy(f => f.Value.Last).Take(_failures.Count / 2).Select(f => f.Key).ToList();
        }

        foreach (var key in idle)
        {
            _failures.Remove(key);
        }
    }

    /// <summary>An IPv6 client owns at least a /64 and can change addresses inside it at will: the /64 is the unit.</summary>
    private static string Bucket(IPAddress client)
    {
        if (client.AddressFamily != AddressFamily.InterNetworkV6 || client.IsIPv4MappedToIPv6)
        {
            return (client.IsIPv4MappedToIPv6 ? client.MapToIPv4() : client).ToString();
        }

        var bytes = client.GetAddressBytes();
        Array.Clear(bytes, 8, 8);
        return new IPAddress(bytes) + "/64";
    }

    private string CacheKey(string name, string password) =>
        Convert.ToBase64String(HMACSHA256.HashData(_cacheKey, Encoding.UTF8.GetBytes($"{name}\0{password}")));
}
