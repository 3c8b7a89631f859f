using Akka.Actor;
using AyTrack.Actors.Domains;
using AyTrack.Actors.Workers;
using AyTrack.Core.Addresses;
using AyTrack.Core.Delivery;
using AyTrack.Core.Domains;
using AyTrack.Core.Settings;
using AyTrack.Core.Spool;
using Xunit;

namespace AyTrack.Integration.Tests.Actors;

/// <summary>The domain actor with a probe standing in for the SMTP worker pool and the in-memory journal.</summary>
/// <remarks>Expectations wait up to 15 s: a loaded CI machine runs many nodes beside these tests.</remarks>
public sealed class DomainDeliveryActorTests() : SpoolTestKit("akka.test.single-expect-default = 15s")
{
    private readonly LiveSettings _live = new(new OperatorSettings());
    private readonly DeliveryRate _rate = new(DateTimeOffset.UtcNow);

    [Fact]
    public void A_message_is_confirmed_once_durable_and_a_repeat_causes_no_second_delivery()
    {
        var workers = CreateTestProbe();
        var actor = Sys.ActorOf(Create(workers, new DomainActorSettings(5, 10, TimeSpan.FromMinutes(1))));
        var enqueue = new DomainCommands.EnqueueBatch(Domain, [new DomainCommands.NewMessage(Domain, new QueueId("q1"), ["a@alpha.test"], DateTimeOffset.UtcNow)]);

        actor.Tell(enqueue);
        ExpectMsg<DomainCommands.EnqueuedBatch>(e => Assert.Equal(1, e.Messages));
        var batch = workers.ExpectMsg<WorkerCommands.DeliverBatch>();
        Assert.Equal("q1", Assert.Single(batch.Items).Id.Value);
        Assert.Equal(["a@alpha.test"], Assert.Single(batch.Items).Recipients);

        actor.Tell(enqueue);
        ExpectMsg<DomainCommands.EnqueuedBatch>();
        workers.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public void A_batch_of_messages_is_confirmed_together_and_one_session_carries_them_once()
    {
        var workers = CreateTestProbe();
        var actor = Sys.ActorOf(Create(workers, new DomainActorSettings(5, 10, TimeSpan.FromMinutes(1))));
        var now = DateTimeOffset.UtcNow;
        var batch = new DomainCommands.EnqueueBatch(Domain,
        [
            new DomainCommands.NewMessage(Domain, new QueueId("q1"), ["a@alpha.test"], now),
            new DomainCommands.NewMessage(Domain, new QueueId("q2"), ["b@alpha.test", "c@alpha.test"], now.AddSeconds(1)),
            new DomainCommands.NewMessage(Domain, new QueueId("q1"), ["a@alpha.test"], now),
        ]);

        actor.Tell(batch);
        Assert.Equal(3, ExpectMsg<DomainCommands.EnqueuedBatch>().Messages);
        var delivery = workers.ExpectMsg<WorkerCommands.DeliverBatch>();
        Assert.Equal(["q1", "q2"], delivery.Items.Select(i => i.Id.Value));
        Assert.Equal(["b@alpha.test", "c@alpha.test"], delivery.Items[1].Recipients);

        // The outbox repeats the whole batch after a crash: nothing new, no second session.
        actor.Tell(batch);
        ExpectMsg<DomainCommands.EnqueuedBatch>();
        workers.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public void No_more_sessions_than_the_connection_cap_run_at_once()
    {
        var workers = CreateTestProbe();
        var actor = Sys.ActorOf(Create(workers, new DomainActorSettings(2, 1, TimeSpan.FromMinutes(1))));
        for (var i = 0; i < 5; i++)
        {
            actor.Tell(new DomainCommands.EnqueueBatch(Domain, [new DomainCommands.NewMessage(Domain, new QueueId($"q{i}"), [$"u{i}@alpha.test"], DateTimeOffset.UtcNow.AddSeconds(i))]));
            ExpectMsg<DomainCommands.EnqueuedBatch>();
        }

        var first = workers.ExpectMsg<WorkerCommands.DeliverBatch>();
        var firstReplyTo = workers.LastSender;
        workers.ExpectMsg<WorkerCommands.DeliverBatch>();
        workers.ExpectNoMsg(TimeSpan.FromMilliseconds(300));

        // One session finishes: exactly one more starts.
        firstReplyTo.Tell(Delivered(first));
        workers.ExpectMsg<WorkerCommands.DeliverBatch>();
        workers.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
        actor.Tell(new DomainQueries.GetQueue(Domain));
        var status = ExpectMsg<DomainQueries.QueueStatus>();
        Assert.Equal(4, status.Pending);
        Assert.Equal(2, status.InFlightSessions);
    }

    [Fact]
    public void A_batch_without_a_reply_is_taken_back_as_deferred_after_the_reply_timeout()
    {
        var workers = CreateTestProbe();
        var actor = Sys.ActorOf(Create(workers, new DomainActorSettings(1, 10, TimeSpan.FromMilliseconds(300))));

        actor.Tell(new DomainCommands.EnqueueBatch(Domain, [new DomainCommands.NewMessage(Domain, new QueueId("q1"), ["a@alpha.test"], DateTimeOffset.UtcNow)]));
        ExpectMsg<DomainCommands.EnqueuedBatch>();
        workers.ExpectMsg<WorkerCommands.DeliverBatch>();

        AwaitAssert(() =>
        {
            actor.Tell(new DomainQueries.GetQueue(Domain));
            var status = ExpectMsg<DomainQueries.QueueStatus>();
            Assert.Equal(1, status.Deferred);
            Assert.Equal(0, status.InFlightSessions);
            Assert.StartsWith("451 4.4.7", status.LastError);
        }, TimeSpan.FromSeconds(5));
    }

    [Fact]
    public void After_a_restart_the_actor_recovers_its_queue_and_sends_pending_recipients_again()
    {
        var workers = CreateTestProbe();
        var settings = new DomainActorSettings(5, 10, TimeSpan.FromMinutes(1));
        var first = Sys.ActorOf(Create(workers, settings));
        first.Tell(new DomainCommands.EnqueueBatch(Domain, [new DomainCommands.NewMessage(Domain, new QueueId("q1"), ["a@alpha.test", "b@alpha.test"], DateTimeOffset.UtcNow)]));
        ExpectMsg<DomainCommands.EnqueuedBatch>();
        var batch = workers.ExpectMsg<WorkerCommands.DeliverBatch>();
        // a is delivered, b is not answered before the actor stops.
        workers.Reply(new WorkerCommands.BatchDelivered(batch.BatchId, [new MessageAttempt(new QueueId("q1"),
            [new RecipientAttempt("a@alpha.test", RecipientOutcome.Delivered, SmtpReply.From(250, "ok"))], "mx", "127.0.0.1")]));
        AwaitAssert(() =>
        {
            first.Tell(new DomainQueries.GetQueue(Domain));
            Assert.Equal(1, ExpectMsg<DomainQueries.QueueStatus>().Pending);
        });
        Watch(first);
        first.Tell(PoisonPill.Instance);
        ExpectTerminated(first);

        Sys.ActorOf(Create(workers, settings));

        var again = workers.ExpectMsg<WorkerCommands.DeliverBatch>();
        Assert.Equal(["b@alpha.test"], Assert.Single(again.Items).Recipients);
        Assert.Equal("q1", again.Items[0].Id.Value);
    }

    private Props Create(IActorRef workers, DomainActorSettings settings) =>
        DomainDeliveryActor.Props(Domain.Value, workers, CreateTestProbe(), Spool, settings, _live, _rate);

    private static WorkerCommands.BatchDelivered Delivered(WorkerCommands.DeliverBatch batch) =>
        new(batch.BatchId, batch.Items.Select(i => new MessageAttempt(i.Id,
            i.Recipients.Select(r => new RecipientAttempt(r, RecipientOutcome.Delivered, SmtpReply.From(250, "2.0.0 ok"))).ToList(),
            "mx.alpha.test", "127.0.0.1")).ToList());
}
