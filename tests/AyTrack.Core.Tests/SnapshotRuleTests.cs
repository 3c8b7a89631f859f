using AyTrack.Core.Domains;
using Xunit;

namespace AyTrack.Core.Tests;

public sealed class SnapshotRuleTests
{
    private static int EventsUntilSnapshot(SnapshotRule rule, int queuedMessages)
    {
        for (var events = 1; events <= 100_000; events++)
        {
            if (rule.EventApplied(queuedMessages))
            {
                return events;
            }
        }

        return -1;
    }

    [Fact]
    public void A_small_queue_is_snapshotted_every_N_events()
    {
        var rule = new SnapshotRule(200);

        Assert.Equal(200, EventsUntilSnapshot(rule, 10));
        Assert.Equal(200, EventsUntilSnapshot(rule, 10));
    }

    [Fact]
    public void A_big_queue_waits_for_events_worth_half_of_it()
    {
        Assert.Equal(5_000, EventsUntilSnapshot(new SnapshotRule(200), 10_000));
    }

    [Fact]
    public void An_emptied_queue_is_snapshotted_after_a_tenth_of_N_events()
    {
        Assert.Equal(20, EventsUntilSnapshot(new SnapshotRule(200), 0));
        Assert.Equal(1, EventsUntilSnapshot(new SnapshotRule(5), 0));
    }
}
