using Akka.Actor;
using Akka.Routing;
using Akka.TestKit.Xunit2;
using AyTrack.Actors.Workers;
using AyTrack.Core.Addresses;
using AyTrack.Core.Delivery;
using AyTrack.Smtp.Delivery;
using Xunit;

namespace AyTrack.Integration.Tests.Actors;

/// <summary>The SMTP worker pool: one session per worker, resized with AdjustPoolSize or SetPoolSize, sessions ended with it.</summary>
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

    [Fact]
    public async Task Overlapping_absolute_resizes_end_at_the_last_one_asked_for()
    {
        var transport = new GatedTransport();
        var pool = Sys.ActorOf(SmtpWorkerPool.Props(5, transport), "workers");
        var items = new List<BatchItem> { new(new QueueId("q1"), ["a@alpha.test"], 1) };
        var replies = Enumerable.Range(0, 2).Select(_ => pool.Ask<WorkerCommands.BatchDelivered>(
            new WorkerCommands.DeliverBatch(Guid.NewGuid(), new RecipientDomain("alpha.test"), items), TimeSpan.FromSeconds(30))).ToList();
        await transport.WaitForSessionsAsync(2);

        // A settings change and a per-node override arrive together, with sessions in flight: the last one wins
        // (read-then-adjust would have ended at 5 + 3 - 2 = 6).
        pool.Tell(new WorkerCommands.SetPoolSize(8));
        pool.Tell(new WorkerCommands.SetPoolSize(3));
        await AwaitAssertAsync(async () =>
            Assert.Equal(3, (await pool.Ask<Routees>(GetRoutees.Instance, TimeSpan.FromSeconds(3))).Members.Count()));

        transport.Open();
        await Task.WhenAll(replies);
        Assert.Equal(3, (await pool.Ask<Routees>(GetRoutees.Instance, TimeSpan.FromSeconds(3))).Members.Count());
    }

    [Fact]
    public async Task A_session_in_flight_is_cancelled_when_its_worker_stops()
    {
        var transport = new GatedTransport();
        var pool = Sys.ActorOf(SmtpWorkerPool.Props(1, transport), "workers");
        var reply = pool.Ask<WorkerCommands.BatchDelivered>(new WorkerCommands.DeliverBatch(Guid.NewGuid(), new RecipientDomain("alpha.test"),
            [new BatchItem(new QueueId("q1"), ["a@alpha.test"], 1)]), TimeSpan.FromSeconds(30));
        await transport.WaitForSessionsAsync(1);

        Sys.Stop(pool);

        // The asker learns at once that no result is coming (its batch is taken back and retried), and the session
        // itself saw the cancellation instead of running on after the actor system.
        await Assert.ThrowsAnyAsync<Exception>(() => reply);
        await AwaitConditionAsync(() => Task.FromResult(transport.Cancelled == 1), TimeSpan.FromSeconds(10));
    }

    /// <summary>A transport whose sessions wait until the test opens the gate, so "in flight" is a known state.</summary>
    private sealed class GatedTransport : IDeliveryTransport
    {
        private readonly TaskCompletionSource _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly SemaphoreSlim _started = new(0);
        private int _count;

        private int _cancelled;

        public int Started => Volatile.Read(ref _count);

        public int Cancelled => Volatile.Read(ref _cancelled);

        public void Open() => _gate.TrySetResult();

        public async Task WaitForSessionsAsync(int count)
        {
            for (var i = 0; i < count; i++)
            {
                Assert.True(await _started.WaitAsync(TimeSpan.FromSeconds(10)), "sessions did not start");
            }
        }

        public async Task<IReadOnlyList<MessageAttempt>> DeliverAsync(RecipientDomain domain, IReadOnlyList<BatchItem> items, AyTrack.Core.Shaping.SiteLease? lease,
            CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _count);
            _started.Release();
            try
            {
                await _gate.Task.WaitAsync(cancellationToken);
            }
            catch (OperationCanceledException)
            {
                Interlocked.Increment(ref _cancelled);
                throw;
            }

            return items.Select(i => new MessageAttempt(i.Id,
                i.Recipients.Select(r => new RecipientAttempt(r, RecipientOutcome.Delivered, SmtpReply.From(250, "ok"))).ToList(), "mx", "127.0.0.1")).ToList();
        }
    }
}
