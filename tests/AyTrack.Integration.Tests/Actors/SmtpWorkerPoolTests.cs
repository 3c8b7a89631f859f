using Akka.Actor;
using Akka.Routing;
using Akka.TestKit.Xunit2;
using AyTrack.Actors.Workers;
using AyTrack.Core.Addresses;
using AyTrack.Core.Delivery;
using AyTrack.Smtp.Delivery;
using Xunit;

namespace AyTrack.Integration.Tests.Actors;

/// <summary>The SMTP worker pool: one session per worker, resized with AdjustPoolSize.</summary>
public sealed class SmtpWorkerPoolTests() : TestKit("akka.test.single-expect-default = 15s")
{
    [Fact]
    public async Task Shrinking_the_pool_lets_the_removed_workers_finish_the_batch_in_hand()
    {
        var transport = new GatedTransport();
        var pool = Sys.ActorOf(SmtpWorkerPool.Props(3, transport), "workers");
        var items = new List<BatchItem> { new(new QueueId("q1"), ["a@alpha.test"], 1) };

        // Four batches at once: three sessions start, one per worker, and the fourth waits for a free worker.
        var replies = Enumerable.Range(0, 4).Select(_ => pool.Ask<WorkerCommands.BatchDelivered>(
            new WorkerCommands.DeliverBatch(Guid.NewGuid(), new RecipientDomain("alpha.test"), items), TimeSpan.FromSeconds(30))).ToList();
        await transport.WaitForSessionsAsync(3);
        Assert.Equal(3, transport.Started);

        pool.Tell(new AdjustPoolSize(-2));
        await AwaitAssertAsync(async () =>
            Assert.Single((await pool.Ask<Routees>(GetRoutees.Instance, TimeSpan.FromSeconds(3))).Members));

        // The sessions in hand end normally, the waiting batch runs on the worker that is left, and every batch gets
        // its result.
        transport.Open();
        var results = await Task.WhenAll(replies);
        Assert.All(results, r => Assert.Equal(RecipientOutcome.Delivered, Assert.Single(Assert.Single(r.Attempts).Results).Outcome));

        pool.Tell(new AdjustPoolSize(4));
        await AwaitAssertAsync(async () =>
            Assert.Equal(5, (await pool.Ask<Routees>(GetRoutees.Instance, TimeSpan.FromSeconds(3))).Members.Count()));
    }

    /// <summary>A transport whose sessions wait until the test opens the gate, so "in flight" is a known state.</summary>
    private sealed class GatedTransport : IDeliveryTransport
    {
        private readonly TaskCompletionSource _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly SemaphoreSlim _started = new(0);
        private int _count;

        public int Started => Volatile.Read(ref _count);

        public void Open() => _gate.TrySetResult();

        public async Task WaitForSessionsAsync(int count)
        {
            for (var i = 0; i < count; i++)
            {
                Assert.True(await _started.WaitAsync(TimeSpan.FromSeconds(10)), "sessions did not start");
            }
        }

        public async Task<IReadOnlyList<MessageAttempt>> DeliverAsync(RecipientDomain domain, IReadOnlyList<BatchItem> items, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _count);
            _started.Release();
            await _gate.Task;
            return items.Select(i => new MessageAttempt(i.Id,
                i.Recipients.Select(r => new RecipientAttempt(r, RecipientOutcome.Delivered, SmtpReply.From(250, "ok"))).ToList(), "mx", "127.0.0.1")).ToList();
        }
    }
}
