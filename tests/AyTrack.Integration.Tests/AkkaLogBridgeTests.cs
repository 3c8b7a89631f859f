using AyTrack.Node.Logging;
using Xunit;

namespace AyTrack.Integration.Tests;

/// <summary>Which "singleton not found" warnings of Akka.NET's proxy are real: those that repeat a failure period apart.</summary>
public sealed class AkkaLogBridgeTests
{
    private static readonly TimeSpan Period = TimeSpan.FromSeconds(30);
    private static readonly DateTime Now = new(2026, 11, 30, 12, 0, 0, DateTimeKind.Utc);

    [Fact]
    public void The_first_tick_and_its_immediate_repeat_are_not_failures()
    {
        Assert.False(AkkaLogBridge.IsPeriodicRepeat(null, Now, Period));
        Assert.False(AkkaLogBridge.IsPeriodicRepeat(Now.AddMilliseconds(-5), Now, Period));
        // A new search long after the last one (the oldest node changed) starts with a first tick again.
        Assert.False(AkkaLogBridge.IsPeriodicRepeat(Now.AddMinutes(-10), Now, Period));
    }

    [Fact]
    public void A_warning_one_period_after_the_last_is_a_real_failure()
    {
        Assert.True(AkkaLogBridge.IsPeriodicRepeat(Now - Period, Now, Period));
        Assert.True(AkkaLogBridge.IsPeriodicRepeat(Now - Period - TimeSpan.FromSeconds(2), Now, Period));
    }
}
