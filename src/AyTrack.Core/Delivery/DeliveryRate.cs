namespace AyTrack.Core.Delivery;

/// <summary>
/// timing.maxLoadPerHour as a token bucket: this node's share of the cluster-wide cap refills continuously, and a
/// minute's worth may be used at once so the cap smooths bursts instead of forbidding them. 0 means no cap.
/// </summary>
public sealed class DeliveryRate
{
    private readonly object _gate = new();
    private double _perSecond;
    private double _capacity;
    private double _tokens;
    private DateTimeOffset _last;

    public DeliveryRate(DateTimeOffset now) => _last = now;

    public bool Unlimited { get; private set; } = true;

    /// <summary>Sets the cluster-wide cap and how many nodes share it (each up node takes an equal share).</summary>
    public void Configure(int maxLoadPerHour, int upNodes, DateTimeOffset now)
    {
        lock (_gate)
        {
            Refill(now);
            var wasUnlimited = Unlimited;
            Unlimited = maxLoadPerHour <= 0;
            _perSecond = Unlimited ? 0 : maxLoadPerHour / 3600.0 / Math.Max(1, upNodes);
            _capacity = Math.Max(1, _perSecond * 60);
            // A cap that is new starts with a full minute's allowance; a changed cap keeps what is left of it.
            _tokens = wasUnlimited ? _capacity : Math.Min(_tokens, _capacity);
        }
    }

    /// <summary>Takes up to <paramref name="wanted"/> delivery starts; returns how many may start now.</summary>
    public int TryTake(int wanted, DateTimeOffset now)
    {
        lock (_gate)
        {
            if (Unlimited)
            {
                return wanted;
            }

            Refill(now);
            var granted = Math.Min(wanted, (int)Math.Floor(_tokens));
            _tokens -= granted;
            return granted;
        }
    }

    /// <summary>How long until one more start is allowed.</summary>
    public TimeSpan UntilNext(DateTimeOffset now)
    {
        lock (_gate)
        {
            if (Unlimited)
            {
                return TimeSpan.Zero;
            }

            Refill(now);
            return _tokens >= 1 ? TimeSpan.Zero : TimeSpan.FromSeconds((1 - _tokens) / _perSecond);
        }
    }

    private void Refill(DateTimeOffset now)
    {
        if (now > _last)
        {
            _tokens = Math.Min(_capacity, _tokens + (now - _last).TotalSeconds * _perSecond);
            _last = now;
        }
    }
}
