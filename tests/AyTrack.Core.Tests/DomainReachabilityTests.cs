using AyTrack.Core.Addresses;
using AyTrack.Core.Delivery;
using AyTrack.Core.Domains;
using Xunit;

namespace AyTrack.Core.Tests;

/// <summary>A domain that is down costs one connection attempt per interval, not one per message that comes due.</summary>
public sealed class DomainReachabilityTests
{
    private static readonly RecipientDomain Domain = new("down.test");
    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 10, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan MinBackoff = TimeSpan.FromMinutes(5);
    private static readonly SmtpReply Refused = new(451, "4.4.1", "Connection to mx.down.test [127.0.0.9] failed: Connection refused");

    private static MessageAttempt Attempt(string id, RecipientOutcome outcome, SmtpReply reply, string? host) =>
        new(new QueueId(id), [new RecipientAttempt($"{id}@down.test", outcome, reply)], host, host is null ? null : "127.0.0.9");

    [Fact]
    public void A_session_that_reached_no_host_makes_the_domain_wait_the_minimal_backoff_then_send_one_message_at_a_time()
    {
        var reachability = new DomainReachability();
        Assert.Equal(50, reachability.BatchLimit(50));
        Assert.Equal(4, reachability.SessionLimit(4));

        reachability.Observe([Attempt("a", RecipientOutcome.Deferred, Refused, null), Attempt("b", RecipientOutcome.Deferred, Refused, null)],
            T0, MinBackoff, new Random(7));

        var until = Assert.NotNull(reachability.UnreachableUntil);
        Assert.InRange(until, T0 + MinBackoff * 0.9, T0 + MinBackoff * 1.1);
        Assert.True(reachability.Waiting(T0.AddMinutes(4)));
        Assert.False(reachability.Waiting(until));
        Assert.Equal(1, reachability.BatchLimit(50));
        Assert.Equal(1, reachability.SessionLimit(4));
        Assert.Equal(Refused.ToString(), reachability.Reason);
    }

    [Theory]
    [InlineData(RecipientOutcome.Delivered, "mx.down.test")]
    [InlineData(RecipientOutcome.Failed, "mx.down.test")]
    [InlineData(RecipientOutcome.Deferred, "mx.down.test")]
    [InlineData(RecipientOutcome.Held, null)]
    public void Any_answer_from_a_server_ends_the_wait(RecipientOutcome outcome, string? host)
    {
        var reachability = new DomainReachability();
        reachability.Observe([Attempt("a", RecipientOutcome.Deferred, Refused, null)], T0, MinBackoff, new Random(1));
        Assert.True(reachability.Probing);

        // A 4xx from the server itself (greylisting, mailbox full) is about the message, not the domain.
        reachability.Observe([Attempt("b", outcome, SmtpReply.From(451, "4.2.2 mailbox full"), host)], T0.AddMinutes(6), MinBackoff, new Random(1));

        Assert.False(reachability.Probing);
        Assert.Null(reachability.UnreachableUntil);
        Assert.Equal(50, reachability.BatchLimit(50));
    }

    [Fact]
    public void A_session_that_delivered_some_messages_before_the_connection_dropped_reached_the_domain()
    {
        Assert.False(DomainReachability.ReachedNoHost([
            Attempt("a", RecipientOutcome.Delivered, SmtpReply.From(250, "2.0.0 ok"), "mx.down.test"),
            Attempt("b", RecipientOutcome.Deferred, Refused, null),
        ]));
        Assert.False(DomainReachability.ReachedNoHost([]));
        Assert.False(DomainReachability.ReachedNoHost([Attempt("c", RecipientOutcome.Deferred,
            new SmtpReply(451, "4.7.5", "MTA-STS policy of down.test: mx.down.test does not offer STARTTLS; nothing was sent in clear"), null)]));
        Assert.True(DomainReachability.ReachedNoHost([Attempt("d", RecipientOutcome.Deferred, Refused, null)]));
    }

    [Fact]
    public void After_a_restart_a_domain_whose_last_deferral_reached_no_host_starts_with_one_message()
    {
        DomainQueueState Deferred(SmtpReply reply, string? host) => DomainQueueState.Empty
            .Apply(new DomainEvents.MessageEnqueued(new QueueId("a"), Domain, ["a@down.test"], T0))
            .Apply(new DomainEvents.MessageEnqueued(new QueueId("b"), Domain, ["b@down.test"], T0))
            .Apply(new DomainEvents.AttemptCompleted(new QueueId("a"), [new RecipientAttempt("a@down.test", RecipientOutcome.Deferred, reply)], T0)
                { RetryAt = T0.AddMinutes(5), RemoteHost = host });

        var down = new DomainReachability();
        down.Recovered(Deferred(Refused, null), T0.AddMinutes(1));
        Assert.True(down.Probing);
        Assert.False(down.Waiting(T0.AddMinutes(1)));
        Assert.Equal(1, down.BatchLimit(50));
        Assert.Equal(Refused.ToString(), down.Reason);

        // The server answered (greylisting), or our own policy deferred it, or nothing was deferred: nothing assumed.
        var greylisted = new DomainReachability();
        greylisted.Recovered(Deferred(SmtpReply.From(450, "4.2.0 greylisted"), "mx.down.test"), T0.AddMinutes(1));
        Assert.False(greylisted.Probing);
        var policy = new DomainReachability();
        policy.Recovered(Deferred(new SmtpReply(451, "4.7.5", "MTA-STS policy of down.test: not met"), null), T0.AddMinutes(1));
        Assert.False(policy.Probing);
        var fresh = new DomainReachability();
        fresh.Recovered(DomainQueueState.Empty.Apply(new DomainEvents.MessageEnqueued(new QueueId("a"), Domain, ["a@down.test"], T0)), T0);
        Assert.False(fresh.Probing);
    }

    [Fact]
    public void Recipients_not_tried_while_the_domain_waits_count_as_deferred_and_the_next_attempt_is_the_end_of_the_wait()
    {
        var state = DomainQueueState.Empty
            .Apply(new DomainEvents.MessageEnqueued(new QueueId("a"), Domain, ["a@down.test"], T0))
            .Apply(new DomainEvents.AttemptCompleted(new QueueId("a"), [new RecipientAttempt("a@down.test", RecipientOutcome.Deferred, Refused)], T0)
                { RetryAt = T0.AddMinutes(5) })
            .Apply(new DomainEvents.MessageEnqueued(new QueueId("b"), Domain, ["b@down.test", "c@down.test"], T0.AddMinutes(1)));

        Assert.Equal((2, 1, 0, T0), QueueStatusProjection.Figures(state));
        Assert.Equal((0, 3, 0, T0), QueueStatusProjection.Figures(state, unreachable: true));

        var status = QueueStatusProjection.From(Domain, state, 0, Refused.ToString(), 5, unreachableUntil: T0.AddMinutes(7));
        Assert.Equal(0, status.Pending);
        Assert.Equal(3, status.Deferred);
        Assert.Equal(T0.AddMinutes(7), status.NextAttempt);
        Assert.Equal(T0.AddMinutes(5), QueueStatusProjection.From(Domain, state, 0, null, 5).NextAttempt);
    }

    [Fact]
    public void Recipients_waiting_behind_an_unreachable_domain_get_their_delay_warning_with_the_domain_s_reason()
    {
        var state = DomainQueueState.Empty
            .Apply(new DomainEvents.MessageEnqueued(new QueueId("a"), Domain, ["a@down.test"], T0))
            .Apply(new DomainEvents.MessageEnqueued(new QueueId("b"), Domain, ["b@down.test"], T0));
        var at = T0.AddHours(4);

        // Reachable (or not known to be down): a pending recipient is about to be tried, not delayed.
        Assert.Empty(state.DelayWarningsDue(at, 4));

        var due = state.DelayWarningsDue(at, 4, Refused.ToString(), new HashSet<string> { "b" });
        var (id, recipients) = Assert.Single(due);
        Assert.Equal("a", id.Value);
        var warned = Assert.Single(recipients);
        Assert.Equal(("a@down.test", "4.4.1", Refused.ToString()), (warned.Recipient, warned.Status, warned.Diagnostic));

        state = state.Apply(new DomainEvents.DelayWarningsQueued(id, ["a@down.test"], at));
        Assert.Empty(state.DelayWarningsDue(at.AddHours(1), 4, Refused.ToString(), new HashSet<string> { "b" }));
    }
}
