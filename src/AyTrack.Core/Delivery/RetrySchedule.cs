namespace AyTrack.Core.Delivery;

/// <summary>
/// When a deferred recipient is tried again (RFC 5321 §4.5.4.1: retries spaced out, giving up after days). The wait
/// doubles from <c>min</c> with every failed attempt up to <c>max</c>; ±10% jitter keeps mail deferred together
/// (one outage) from coming back in one wave.
/// </summary>
public static class RetrySchedule
{
    public static DateTimeOffset NextAttempt(int failedAttempts, DateTimeOffset now, TimeSpan min, TimeSpan max, Random random)
    {
        var exponent = Math.Clamp(failedAttempts - 1, 0, 30);
        var wait = Math.Min(min.TotalMilliseconds * Math.Pow(2, exponent), max.TotalMilliseconds);
        var jitter = 1 + ((random.NextDouble() * 2) - 1) * 0.1;
        return now + TimeSpan.FromMilliseconds(Math.Max(min.TotalMilliseconds * 0.9, wait * jitter));
    }

    /// <summary>The give-up time of a message: <c>timing.retryDays</c> after it arrived.</summary>
    public static DateTimeOffset ExpiresAt(DateTimeOffset arrivedAt, double retryDays) => arrivedAt + TimeSpan.FromDays(retryDays);
}
