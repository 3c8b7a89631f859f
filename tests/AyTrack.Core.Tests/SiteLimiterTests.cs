using AyTrack.Core.Shaping;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace AyTrack.Core.Tests;

/// <summary>The per-site slots, suspensions and reductions, under a fake clock.</summary>
public sealed class SiteLimiterTests
{
    private const string Site = "alt1.aspmx.l.google.com,aspmx.l.google.com";
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 12, 1, 9, 0, 0, TimeSpan.Zero));

    [Fact]
    public void No_more_sessions_than_the_limit_and_a_released_slot_is_taken_again()
    {
        var limiter = new SiteLimiter(_clock);
        Assert.Equal(SiteVerdict.Granted, limiter.TryAcquire(Site, 2));
        Assert.Equal(SiteVerdict.Granted, limiter.TryAcquire(Site, 2));
        Assert.Equal(SiteVerdict.Full, limiter.TryAcquire(Site, 2));
        Assert.Equal(SiteVerdict.Granted, limiter.TryAcquire("other.site", 2));

        limiter.Release(Site);
        Assert.Equal(SiteVerdict.Granted, limiter.TryAcquire(Site, 2));
        Assert.Equal(2, limiter.Status(Site, 2).Open);
    }

    [Fact]
    public void A_suspension_refuses_new_sessions_until_its_time_then_lifts_itself_once()
    {
        var limiter = new SiteLimiter(_clock);
        var change = limiter.Suspend(Site, TimeSpan.FromMinutes(15), "421 4.7.28 unusual rate");
        Assert.Equal(_clock.GetUtcNow().AddMinutes(15), change.Until);
        Assert.Equal(SiteVerdict.Suspended, limiter.TryAcquire(Site, 5));
        limiter.Suspend(Site, TimeSpan.FromMinutes(1), "a shorter one");
        Assert.Equal(_clock.GetUtcNow().AddMinutes(15), limiter.Status(Site, 5).SuspendedUntil);

        _clock.Advance(TimeSpan.FromMinutes(15));
        Assert.Equal(SiteVerdict.Granted, limiter.TryAcquire(Site, 5));
        var expired = Assert.Single(limiter.Expire());
        Assert.Equal(("resumed", Site), (expired.What, expired.Site));
        Assert.Empty(limiter.Expire());
    }

    [Fact]
    public void An_operator_resumes_a_suspended_site_at_once()
    {
        var limiter = new SiteLimiter(_clock);
        limiter.Suspend(Site, TimeSpan.FromHours(1), "operator");
        Assert.NotNull(limiter.Resume(Site, "operator"));
        Assert.Equal(SiteVerdict.Granted, limiter.TryAcquire(Site, 1));
        Assert.Null(limiter.Resume(Site, "again"));
    }

    [Fact]
    public void A_reduction_lowers_the_limit_for_its_time_and_the_lowest_overlapping_one_holds()
    {
        var limiter = new SiteLimiter(_clock);
        limiter.Reduce(Site, 3, TimeSpan.FromMinutes(10), "RateLimited");
        limiter.Reduce(Site, 1, TimeSpan.FromMinutes(5), "RateLimited again");
        Assert.Equal(1, limiter.Status(Site, 20).Limit);
        Assert.Equal(SiteVerdict.Granted, limiter.TryAcquire(Site, 20));
        Assert.Equal(SiteVerdict.Full, limiter.TryAcquire(Site, 20));

        _clock.Advance(TimeSpan.FromMinutes(10));
        Assert.Equal(20, limiter.Status(Site, 20).Limit);
        Assert.Equal("restored", Assert.Single(limiter.Expire()).What);
        Assert.Equal(SiteVerdict.Granted, limiter.TryAcquire(Site, 20));
    }

    [Fact]
    public void Sites_with_nothing_open_or_in_force_are_forgotten()
    {
        var limiter = new SiteLimiter(_clock);
        limiter.TryAcquire(Site, 1);
        limiter.Release(Site);
        limiter.Release(Site);
        Assert.Equal(0, limiter.Status(Site, 1).Open);
        Assert.Equal(SiteVerdict.Granted, limiter.TryAcquire(Site, 1));
    }
}
