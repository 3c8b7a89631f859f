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

/// <summary>
/// Sharding stops a domain actor when its shard moves or the node stops. A session already out is waited for and its
/// outcome persisted and written to the spool before the actor stops: the delivered message leaves the spool and is
/// not sent again by the next incarnation.
/// </summary>
public sealed class HandOffStopTests() : SpoolTestKit(string.Empty)
{
    [Fact]
    public async Task A_hand_off_during_a_session_waits_for_its_outcome_then_stops_with_nothing_left_behind()
    {
        var id = new QueueId("q1");
        await AcceptAsync(id, "a@alpha.test");
        var workers = CreateTestProbe();
        var actor = Sys.ActorOf(DomainDeliveryActor.Props(Domain.Value, workers, CreateTestProbe(), Spool,
            new DomainActorSettings(5, 10, TimeSpan.FromMinutes(1)), new LiveSettings(new OperatorSettings()), new DeliveryRate(DateTimeOffset.UtcNow)));
        Watch(actor);

        actor.Tell(new DomainCommands.EnqueueBatch(Domain, [new DomainCommands.NewMessage(Domain, id, ["a@alpha.test"], DateTimeOffset.UtcNow)]));
        ExpectMsg<DomainCommands.EnqueuedBatch>();
        var batch = workers.ExpectMsg<WorkerCommands.DeliverBatch>();

        actor.Tell(DomainDeliveryActor.HandOffStop.Instance);
        ExpectNoMsg(TimeSpan.FromMilliseconds(300));

        workers.Reply(Delivered(batch.BatchId, id, "a@alpha.test"));
        ExpectTerminated(actor);
        Assert.Equal(new SpoolCounts(0, 0, 0), await Spool.CountAsync(CancellationToken.None));

        // The next incarnation recovers from the same journal: the delivery is on record, nothing is sent again.
        var next = Sys.ActorOf(DomainDeliveryActor.Props(Domain.Value, workers, CreateTestProbe(), Spool,
            new DomainActorSettings(5, 10, TimeSpan.FromMinutes(1)), new LiveSettings(new OperatorSettings()), new DeliveryRate(DateTimeOffset.UtcNow)));
        next.Tell(new DomainQueries.GetQueue(Domain));
        var queue = ExpectMsg<DomainQueries.QueueStatus>();
        Assert.Equal((0, 0, 0), (queue.Pending, queue.Deferred, queue.InFlightSessions));
        workers.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
    }
}
