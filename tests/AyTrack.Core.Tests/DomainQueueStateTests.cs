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
        var first = state.Process(new DomainCommands.NewMessage(Domain, id, ["a@alpha.test", "b@alpha.test"], T0))!;
        state = state.Apply(first);

        Assert.Null(state.Process(new DomainCommands.NewMessage(Domain, id, ["b@alpha.test", "a@alpha.test"], T0)));
        var more = state.Process(new DomainCommands.NewMessage(Domain, id, ["a@alpha.test", "c@alpha.test"], T0));
        Assert.Equal(["c@alpha.test"], more!.Recipients);
    }

    [Fact]
    public void Delivered_recipients_leave_the_queue_failed_ones_wait_for_their_bounce_and_deferred_ones_for_their_retry()
    {
        var id = new QueueId("q1");
        var state = DomainQueueState.Empty.Apply(new DomainEvents.MessageEnqueued(id, Domain, ["ok@alpha.test", "bad@alpha.test", "later@alpha.test"], T0));

        state = state.Apply(new DomainEvents.AttemptCompleted(id, [
            new RecipientAttempt("ok@alpha.test", RecipientOutcome.Delivered, SmtpReply.From(250, "2.0.0 ok")),
            new RecipientAttempt("bad@alpha.test", RecipientOutcome.Failed, SmtpReply.From(550, "5.1.1 unknown")),
            new RecipientAttempt("later@alpha.test", RecipientOutcome.Deferred, SmtpReply.From(451, "4.3.0 later")),
        ], T0) { RetryAt = T0.AddMinutes(5), RemoteHost = "mx.alpha.test" });

        var recipients = Assert.Single(state.Messages).Value.Recipients;
        Assert.Equal(["bad@alpha.test", "later@alpha.test"], recipients.Keys);
        var later = recipients["later@alpha.test"];
        Assert.Equal(RecipientState.Deferred, later.State);
        Assert.Equal(1, later.Attempts);
        Assert.Equal("451 4.3.0 later", later.LastReply);
        Assert.Equal(T0.AddMinutes(5), later.NextAttemptAt);
        var bounce = Assert.Single(Assert.Single(state.PendingBounces()).Recipients);
        Assert.Equal(new BounceRecipient("bad@alpha.test", "5.1.1", "550 5.1.1 unknown", "mx.alpha.test"), bounce);

        // Nothing is due before the retry time; at it, the deferred recipient is due again.
        Assert.Empty(state.NextBatch(10, new HashSet<string>(), T0.AddMinutes(4)));
        Assert.Equal(["later@alpha.test"], Assert.Single(state.NextBatch(10, new HashSet<string>(), T0.AddMinutes(5))).Recipients);
        Assert.Equal(T0.AddMinutes(5), state.NextWakeUp(retryDays: 5));

        // Once its bounce is queued, the failed recipient is gone.
        state = state.Apply(new DomainEvents.BouncesQueued(id, ["bad@alpha.test"], T0));
        Assert.Empty(state.PendingBounces());
    }

    [Fact]
    public void Pending_bounces_follow_every_change_and_survive_a_rebuild_from_the_messages()
    {
        var state = DomainQueueState.Empty;
        var ids = Enumerable.Range(0, 50).Select(i => new QueueId($"q{i:D2}")).ToList();
        foreach (var id in ids)
        {
            state = state.Apply(new DomainEvents.MessageEnqueued(id, Domain, ["a@alpha.test", "b@alpha.test"], T0));
        }

        // One recipient of q07 fails, q31 expires whole, q44 is bounced by the operator; the rest stay.
        state = state.Apply(new DomainEvents.AttemptCompleted(ids[7], [new RecipientAttempt("a@alpha.test", RecipientOutcome.Failed, SmtpReply.From(550, "5.1.1 unknown"))], T0));
        state = state.Apply(new DomainEvents.RecipientsExpired(ids[31], ["a@alpha.test", "b@alpha.test"], T0));
        state = state.Apply(new DomainEvents.OperatorActed(ids[44], QueueOperation.Bounce, ["b@alpha.test"], T0));
        Assert.Equal(["q07", "q31", "q44"], state.PendingBounces().Select(p => p.Id.Value));
        Assert.Equal(["a@alpha.test", "b@alpha.test"], state.PendingBounces()[1].Recipients.Select(r => r.Recipient));

        // A snapshot restores the messages only; what is pending is found again from them.
        var rebuilt = new DomainQueueState(state.Messages);
        static IEnumerable<string> Described(DomainQueueState s) => s.PendingBounces().Select(p => $"{p.Id.Value}: {string.Join(", ", p.Recipients)}");
        Assert.Equal(Described(state), Described(rebuilt));

        // Queued bounces leave: q31 is gone, q07 and q44 keep their other recipient and are no longer pending.
        foreach (var (id, recipients) in state.PendingBounces())
        {
            rebuilt = rebuilt.Apply(new DomainEvents.BouncesQueued(id, recipients.Select(r => r.Recipient).ToList(), T0));
        }

        Assert.Empty(rebuilt.PendingBounces());
        Assert.Equal(49, rebuilt.Messages.Count);
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

        var batch = state.NextBatch(2, new HashSet<string> { "q4" }, T0);

        Assert.Equal(["q3", "q2"], batch.Select(b => b.Id.Value));
        Assert.All(batch, b => Assert.Equal(1, b.Attempt));
    }

    [Fact]
    public void Recipients_older_than_the_retry_lifetime_expire_with_5_4_7_unless_in_a_session()
    {
        var old = new QueueId("old");
        var young = new QueueId("young");
        var busy = new QueueId("busy");
        var state = DomainQueueState.Empty
            .Apply(new DomainEvents.MessageEnqueued(old, Domain, ["a@alpha.test"], T0))
            .Apply(new DomainEvents.MessageEnqueued(young, Domain, ["b@alpha.test"], T0.AddDays(1)))
            .Apply(new DomainEvents.MessageEnqueued(busy, Domain, ["c@alpha.test"], T0))
            .Apply(new DomainEvents.AttemptCompleted(old, [new RecipientAttempt("a@alpha.test", RecipientOutcome.Deferred, SmtpReply.From(451, "4.4.1 down"))], T0)
                { RetryAt = T0.AddDays(3) });

        // The retry lifetime ends before the next retry: the wake-up is the expiry.
        Assert.Equal(T0.AddDays(2), state.NextWakeUp(retryDays: 2));

        var expired = state.Expired(T0.AddDays(2), retryDays: 2, inFlight: new HashSet<string> { "busy" });
        var e = Assert.Single(expired);
        Assert.Equal("old", e.Id.Value);

        state = state.Apply(e);
        var bounce = Assert.Single(Assert.Single(state.PendingBounces()).Recipients);
        Assert.Equal("5.4.7", bounce.Status);
        Assert.Equal("451 4.4.1 down", bounce.Diagnostic);
        Assert.Empty(state.Expired(T0.AddDays(2), retryDays: 2, inFlight: new HashSet<string> { "busy" }));
    }

    [Fact]
    public void A_batch_event_changes_the_queue_as_its_events_one_by_one_would()
    {
        var enqueued = Enumerable.Range(0, 3)
            .Select(i => new DomainEvents.MessageEnqueued(new QueueId($"q{i}"), Domain, [$"u{i}@alpha.test"], T0.AddSeconds(i))).ToList();
        var attempts = new List<DomainEvents.AttemptCompleted>
        {
            new(new QueueId("q0"), [new RecipientAttempt("u0@alpha.test", RecipientOutcome.Delivered, SmtpReply.From(250, "2.0.0 Ok"))], T0),
            new(new QueueId("q1"), [new RecipientAttempt("u1@alpha.test", RecipientOutcome.Deferred, SmtpReply.From(451, "4.3.0 later"))], T0)
            {
                RetryAt = T0.AddMinutes(5),
            },
        };

        var batched = DomainQueueState.Empty.Apply(new DomainEvents.MessagesEnqueued(enqueued)).Apply(new DomainEvents.AttemptsCompleted(attempts));
        var single = attempts.Aggregate(enqueued.Aggregate(DomainQueueState.Empty, (s, e) => s.Apply(e)), (s, e) => s.Apply(e));

        Assert.Equal(["q1", "q2"], batched.Messages.Keys);
        Assert.Equal(single.Messages.Keys, batched.Messages.Keys);
        Assert.Equal(RecipientState.Deferred, batched.Messages["q1"].Recipients["u1@alpha.test"].State);
        Assert.Equal(T0.AddMinutes(5), batched.NextWakeUp(5));
        Assert.Equal(["q2"], batched.NextBatch(10, new HashSet<string>(), T0).Select(b => b.Id.Value));
    }
}

/// <summary>The batches in flight and the message ids they keep out of the next batch.</summary>
public sealed class InFlightBatchesTests
{
    [Fact]
    public void The_ids_in_flight_follow_batches_as_they_are_sent_and_answered()
    {
        var inFlight = new InFlightBatches();
        var ids = inFlight.MessageIds;
        var first = Guid.NewGuid();
        var second = Guid.NewGuid();
        inFlight.Add(first, [new BatchItem(new QueueId("q1"), ["a@x.test"], 1), new BatchItem(new QueueId("q2"), ["b@x.test"], 1)]);
        inFlight.Add(second, [new BatchItem(new QueueId("q3"), ["c@x.test"], 2)]);
        Assert.Equal(["q1", "q2", "q3"], ids.Order());
        Assert.Equal(2, inFlight.Count);

        inFlight.Remove(first);
        inFlight.Remove(first);
        Assert.Equal(["q3"], ids);
        Assert.True(inFlight.Contains(second));
        inFlight.Remove(second);
        Assert.Empty(ids);
        Assert.Equal(0, inFlight.Count);
    }
}
