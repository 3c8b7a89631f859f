using AyTrack.Core.Delivery;
using Xunit;

namespace AyTrack.Core.Tests;

public sealed class DeliveryRateTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 27, 10, 0, 0, TimeSpan.Zero);

    [Fact]
    public void No_cap_grants_everything()
    {
        var rate = new DeliveryRate(T0);
        rate.Configure(0, 1, T0);

        Assert.Equal(1000, rate.TryTake(1000, T0));
        Assert.Equal(TimeSpan.Zero, rate.UntilNext(T0));
    }

    [Fact]
    public void Over_an_hour_a_node_starts_no_more_than_its_share_of_the_cap()
    {
        // 3,600 per hour shared by two nodes: 0.5 per second for this node.
        var rate = new DeliveryRate(T0);
        rate.Configure(3600, 2, T0);
        var started = 0;
        for (var second = 0; second <= 3600; second++)
        {
            started += rate.TryTake(100, T0.AddSeconds(second));
        }

        // 1,800 over the hour plus the minute's allowance the new cap starts with.
        Assert.InRange(started, 1800, 1830);
    }

    [Fact]
    public void An_empty_bucket_says_when_the_next_start_is_allowed()
    {
        var rate = new DeliveryRate(T0);
        rate.Configure(360, 1, T0);
        rate.TryTake(10, T0.AddMinutes(5));

        Assert.Equal(0, rate.TryTake(1, T0.AddMinutes(5)));
        Assert.Equal(10, rate.UntilNext(T0.AddMinutes(5)).TotalSeconds, 3);
    }
}
