using Akka.Actor;
using Akka.TestKit;
using AyTrack.Actors.Bounces;
using AyTrack.Actors.Domains;
using AyTrack.Actors.Workers;
using AyTrack.Core.Addresses;
using AyTrack.Core.Delivery;
using AyTrack.Core.Domains;
using AyTrack.Core.Settings;
using AyTrack.Core.Spool;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace AyTrack.Integration.Tests.Actors;

/// <summary>
/// The sending schedule's opening and the rate cap, on a fake clock: the domain actor reads the time from its
/// TimeProvider and sets its timers on the actor system's scheduler, which here is Akka.TestKit's TestScheduler, so the
/// tests move both forward instead of waiting for real minutes and refills.
/// </summary>
public sealed class ClockedTimingTests() : SpoolTestKit("akka.scheduler.implementation = \"Akka.TestKit.TestScheduler, Akka.TestKit\"")
{
    [Fact]
    public void Outside_every_window_mail_queues_and_the_scheduler_message_at_the_opening_sends_it()
    {
        // 12:00:30 UTC on a Monday; the only window opens at 12:01 and stays open a minute.
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 11, 30, 12, 0, 30, TimeSpan.Zero));
        var opening = new DateTimeOffset(2026, 11, 30, 12, 1, 0, TimeSpan.Zero);
        var scheduler = (TestScheduler)Sys.Scheduler;
        var live = new LiveSettings(LiveTimingTests.WithWindow(opening));
        var workers = CreateTestProbe();
        var actor = Sys.ActorOf(DomainDeliveryActor.Props(Domain.Value, workers, CreateTestProbe(), Spool,
            new DomainActorSettings(5, 10, TimeSpan.FromMinutes(1)) { Clock = clock }, live, new DeliveryRate(clock.GetUtcNow())));

        actor.Tell(new DomainCommands.EnqueueBatch(Domain, [new DomainCommands.NewMessage(Domain, new QueueId("q1"), ["a@alpha.test"], clock.GetUtcNow())]));
        ExpectMsg<DomainCommands.EnqueuedBatch>();
        Assert.False(live.Current.Schedule.IsOpen(clock.GetUtcNow()));
        workers.ExpectNoMsg(TimeSpan.FromMilliseconds(300));

        // A second before the opening nothing moves; at the opening the actor's own timer sends it, with no new mail
        // and no settings change.
        clock.Advance(TimeSpan.FromSeconds(29));
        scheduler.Advance(TimeSpan.FromSeconds(29));
        workers.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
        clock.Advance(TimeSpan.FromSeconds(1));
        scheduler.Advance(TimeSpan.FromSeconds(1));

        var batch = workers.ExpectMsg<WorkerCommands.DeliverBatch>(TimeSpan.FromSeconds(15));
        Assert.Equal("q1", Assert.Single(batch.Items).Id.Value);
    }

    [Fact]
    public void The_rate_cap_starts_one_delivery_per_refill_and_no_more()
    {
        // 360 per hour on one node: one every 10 s, the bucket drained to start with.
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 11, 30, 12, 0, 0, TimeSpan.Zero));
        var scheduler = (TestScheduler)Sys.Scheduler;
        var rate = new DeliveryRate(clock.GetUtcNow());
        rate.Configure(360, 1, clock.GetUtcNow());
        rate.TryTake(int.MaxValue, clock.GetUtcNow());
        var workers = CreateTestProbe();
        var actor = Sys.ActorOf(DomainDeliveryActor.Props(Domain.Value, workers, CreateTestProbe(), Spool,
            new DomainActorSettings(20, 1, TimeSpan.FromMinutes(1)) { Clock = clock }, new LiveSettings(new OperatorSettings()), rate));
        for (var i = 0; i < 10; i++)
        {
            actor.Tell(new DomainCommands.EnqueueBatch(Domain, [new DomainCommands.NewMessage(Domain, new QueueId($"q{i}"), [$"u{i}@alpha.test"], clock.GetUtcNow())]));
            ExpectMsg<DomainCommands.EnqueuedBatch>();
        }

        workers.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
        for (var refill = 1; refill <= 3; refill++)
        {
            clock.Advance(TimeSpan.FromSeconds(10));
            scheduler.Advance(TimeSpan.FromSeconds(10));
            workers.ExpectMsg<WorkerCommands.DeliverBatch>(TimeSpan.FromSeconds(15));
            workers.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
        }
    }

    [Fact]
    public void A_recipient_deferred_for_delayWarningHours_is_warned_once_even_across_a_restart()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 11, 30, 12, 0, 0, TimeSpan.Zero));
        var scheduler = (TestScheduler)Sys.Scheduler;
        var live = new LiveSettings(new OperatorSettings());
        var settings = new DomainActorSettings(5, 10, TimeSpan.FromMinutes(1)) { Clock = clock, MinBackoff = TimeSpan.FromHours(10), MaxBackoff = TimeSpan.FromHours(10) };
        var workers = CreateTestProbe();
        var bouncer = CreateTestProbe();
        Props Domain() => DomainDeliveryActor.Props(SpoolTestKit.Domain.Value, workers, bouncer, Spool, settings, live, new DeliveryRate(clock.GetUtcNow()));
        var actor = Sys.ActorOf(Domain());

        actor.Tell(new DomainCommands.EnqueueBatch(SpoolTestKit.Domain, [new DomainCommands.NewMessage(SpoolTestKit.Domain, new QueueId("q1"), ["a@alpha.test"], clock.GetUtcNow())]));
        ExpectMsg<DomainCommands.EnqueuedBatch>();
        var batch = workers.ExpectMsg<WorkerCommands.DeliverBatch>();
        workers.Reply(new WorkerCommands.BatchDelivered(batch.BatchId, [new MessageAttempt(new QueueId("q1"),
            [new RecipientAttempt("a@alpha.test", RecipientOutcome.Deferred, SmtpReply.From(452, "4.2.2 mailbox full"))], "mx.alpha.test", "127.0.0.1")]));

        // Four hours (the default) after arrival, one warning; not a second later, and not again after more time.
        clock.Advance(TimeSpan.FromHours(4) - TimeSpan.FromSeconds(1));
        scheduler.Advance(TimeSpan.FromHours(4) - TimeSpan.FromSeconds(1));
        bouncer.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
        clock.Advance(TimeSpan.FromSeconds(1));
        scheduler.Advance(TimeSpan.FromSeconds(1));
        var warn = bouncer.ExpectMsg<BounceCommands.WarnDelay>(TimeSpan.FromSeconds(15));
        Assert.Equal(("q1", "a@alpha.test", "4.2.2"), (warn.Id.Value, Assert.Single(warn.Recipients).Recipient, warn.Recipients[0].Status));
        bouncer.Reply(new BounceCommands.DelayWarningQueued(warn.Id, ["a@alpha.test"]));
        actor.Tell(new DomainQueries.GetQueue(SpoolTestKit.Domain));
        ExpectMsg<DomainQueries.QueueStatus>();

        clock.Advance(TimeSpan.FromHours(1));
        scheduler.Advance(TimeSpan.FromHours(1));
        bouncer.ExpectNoMsg(TimeSpan.FromMilliseconds(300));

        // The warning is in the journal: the next incarnation does not send it again.
        Watch(actor);
        actor.Tell(DomainDeliveryActor.HandOffStop.Instance);
        ExpectTerminated(actor);
        var restarted = Sys.ActorOf(Domain());
        restarted.Tell(new DomainQueries.GetQueue(SpoolTestKit.Domain));
        Assert.Equal(1, ExpectMsg<DomainQueries.QueueStatus>().Deferred);
        clock.Advance(TimeSpan.FromHours(1));
        scheduler.Advance(TimeSpan.FromHours(1));
        bouncer.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
    }
}
