using System.Reflection;
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
/// After delivery the journal forgets a recipient and only the spool still holds it: when marking it final in the
/// spool fails, the domain actor tries again until the spool takes it, so no row or body is left behind.
/// </summary>
public sealed class FinalMarkTests() : SpoolTestKit(string.Empty)
{
    [Fact]
    public async Task A_failed_spool_update_after_delivery_is_retried_until_no_row_is_left()
    {
        var id = new QueueId("q1");
        await AcceptAsync(id, "a@alpha.test");
        var flaky = FailingFinalMarks.Wrap(Spool, failures: 2);
        var workers = CreateTestProbe();
        var actor = Sys.ActorOf(DomainDeliveryActor.Props(Domain.Value, workers, CreateTestProbe(), flaky,
            new DomainActorSettings(5, 10, TimeSpan.FromMinutes(1)) { FinalMarkRetry = TimeSpan.FromMilliseconds(100) },
            new LiveSettings(new OperatorSettings()), new DeliveryRate(DateTimeOffset.UtcNow)));

        actor.Tell(new DomainCommands.EnqueueBatch(Domain, [new DomainCommands.NewMessage(Domain, id, ["a@alpha.test"], DateTimeOffset.UtcNow)]));
        ExpectMsg<DomainCommands.EnqueuedBatch>();
        var batch = workers.ExpectMsg<WorkerCommands.DeliverBatch>();
        workers.Reply(Delivered(batch.BatchId, id, "a@alpha.test"));

        await AwaitAssertAsync(async () => Assert.Equal(new SpoolCounts(0, 0, 0), await Spool.CountAsync(CancellationToken.None)),
            TimeSpan.FromSeconds(10));
        Assert.Equal(3, FailingFinalMarks.Calls(flaky));
    }

    /// <summary>The real spool, except that its first few MarkFinalAsync calls fail as a full disk would.</summary>
    public class FailingFinalMarks : DispatchProxy
    {
        private ISpool _inner = null!;
        private int _failures;
        private int _calls;

        public static ISpool Wrap(ISpool inner, int failures)
        {
            var proxy = Create<ISpool, FailingFinalMarks>();
            var self = (FailingFinalMarks)(object)proxy;
            self._inner = inner;
            self._failures = failures;
            return proxy;
        }

        public static int Calls(ISpool proxy) => ((FailingFinalMarks)(object)proxy)._calls;

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
        {
            if (targetMethod!.Name == nameof(ISpool.MarkFinalAsync))
            {
                Interlocked.Increment(ref _calls);
                if (Interlocked.Decrement(ref _failures) >= 0)
                {
                    return Task.FromException(new IOException("disk full"));
                }
            }

            return targetMethod.Invoke(_inner, args);
        }
    }
}
