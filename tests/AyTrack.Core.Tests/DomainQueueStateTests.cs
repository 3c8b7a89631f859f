using AyTrack.Core.Addresses;
using AyTrack.Core.Delivery;
using AyTrack.Core.Domains;
using Xunit;

namespace AyTrack.Core.Tests;

public sealed class DomainQueueStateTests
{
    private static readonly RecipientDomain Domain = new("alpha.test");
    private static readonly DateTimeOffset T0 = new(2026, 11, 27, 10, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Enqueue_is_idempotent_for_recipients_already_queued()
    {
        var id = new QueueId("q1");
        var state = DomainQueueState.Empty;
        var first = state.Process(new DomainCommands.Enqueue(Domain, id, ["a@alpha.test", "b@alpha.test"], T0))!;
        state = state.Apply(first);

        Assert.Null(state.Process(new DomainCommands.Enqueue(Domain, id, ["b@alpha.test", "a@alpha.test"], T0)));
        var more = state.Process(new DomainCommands.Enqueue(Domain, id, ["a@alpha.test", "c@alpha.test"], T0));
        Assert.Equal(["c@alpha.test"], more!.Recipients);
    }

    [Fact]
    public void Delivered_and_failed_recipients_leave_the_queue_and_deferred_ones_stay_with_their_reply()
    {
        var id = new QueueId("q1");
        var state = DomainQueueState.Empty.Apply(new DomainEvents.MessageEnqueued(id, Domain, ["ok@alpha.test", "bad@alpha.test", "later@alpha.test"], T0));

        state = state.Apply(new DomainEvents.AttemptCompleted(id, [
            new RecipientAttempt("ok@alpha.test", RecipientOutcome.Delivered, SmtpReply.From(250, "2.0.0 ok")),
            new RecipientAttempt("bad@alpha.test", RecipientOutcome.Failed, SmtpReply.From(550, "5.1.1 unknown")),
            new RecipientAttempt("later@alpha.test", RecipientOutcome.Deferred, SmtpReply.From(451, "4.3.0 later")),
        ], T0));

        var remaining = Assert.Single(Assert.Single(state.Messages).Value.Recipients);
        Assert.Equal("later@alpha.test", remaining.Key);
        Assert.Equal(RecipientState.Deferred, remaining.Value.State);
        Assert.Equal(1, remaining.Value.Attempts);
        Assert.Equal("451 4.3.0 later", remaining.Value.LastReply);
        Assert.Empty(state.NextBatch(10, new HashSet<string>()));
    }

    [Fact]
    public void A_message_whose_recipients_are_all_final_is_gone()
    {
        var id = new QueueId("q1");
        var state = DomainQueueState.Empty
            .Apply(new DomainEvents.MessageEnqueued(id, Domain, ["a@alpha.test"], T0))
            .Apply(new DomainEvents.AttemptCompleted(id, [new RecipientAttempt("a@alpha.test", RecipientOutcome.Delivered, SmtpReply.From(250, "ok"))], T0));

        Assert.Empty(state.Messages);
    }

    [Fact]
    public void Batches_take_the_oldest_pending_messages_and_skip_those_in_flight()
    {
        var state = DomainQueueState.Empty;
        for (var i = 0; i < 5; i++)
        {
            state = state.Apply(new DomainEvents.MessageEnqueued(new QueueId($"q{i}"), Domain, [$"u{i}@alpha.test"], T0.AddSeconds(-i)));
        }

        var batch = state.NextBatch(2, new HashSet<string> { "q4" });

        Assert.Equal(["q3", "q2"], batch.Select(b => b.Id.Value));
        Assert.All(batch, b => Assert.Equal(1, b.Attempt));
    }
}
