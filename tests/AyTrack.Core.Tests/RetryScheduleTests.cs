using AyTrack.Core.Delivery;
using Xunit;

namespace AyTrack.Core.Tests;

public sealed class RetryScheduleTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 27, 10, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData(1, 5)]
    [InlineData(2, 10)]
    [InlineData(3, 20)]
    [InlineData(4, 40)]
    [InlineData(5, 60)]
    [InlineData(50, 60)]
    public void The_wait_doubles_from_the_minimum_up_to_the_maximum_within_ten_percent_jitter(int attempts, double minutes)
    {
        for (var seed = 0; seed < 50; seed++)
        {
            var wait = RetrySchedule.NextAttempt(attempts, Now, TimeSpan.FromMinutes(5), TimeSpan.FromHours(1), new Random(seed)) - Now;
            Assert.InRange(wait.TotalMinutes, minutes * 0.9, minutes * 1.1);
        }
    }

    [Fact]
    public void Jitter_spreads_retries_of_mail_deferred_together()
    {
        var random = new Random(7);
        var times = Enumerable.Range(0, 20)
            .Select(_ => RetrySchedule.NextAttempt(1, Now, TimeSpan.FromMinutes(5), TimeSpan.FromHours(1), random))
            .Distinct()
            .Count();

        Assert.True(times > 15);
    }

    [Fact]
    public void Messages_expire_retry_days_after_arrival_and_decimals_are_allowed()
    {
        Assert.Equal(Now.AddDays(5), RetrySchedule.ExpiresAt(Now, 5));
        Assert.Equal(Now.AddMinutes(36), RetrySchedule.ExpiresAt(Now, 0.025));
    }
}
