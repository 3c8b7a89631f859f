using AyTrack.Core.Addresses;
using AyTrack.Core.Delivery;
using AyTrack.Core.Domains;
using AyTrack.Core.Settings;
using Xunit;

namespace AyTrack.Core.Tests;

public sealed class DelayWarningTests
{
    private static readonly RecipientDomain Domain = new("alpha.test");
    private static readonly DateTimeOffset T0 = new(2026, 11, 27, 10, 0, 0, TimeSpan.Zero);

    private static DomainQueueState Deferred()
    {
        var id = new QueueId("q1");
        return DomainQueueState.Empty
            .Apply(new DomainEvents.MessageEnqueued(id, Domain, ["a@alpha.test", "b@alpha.test", "c@alpha.test"], T0))
            .Apply(new DomainEvents.AttemptCompleted(id, [
                new RecipientAttempt("a@alpha.test", RecipientOutcome.Deferred, SmtpReply.From(451, "4.2.2 mailbox full")),
                new RecipientAttempt("b@alpha.test", RecipientOutcome.Deferred, SmtpReply.From(421, "try later")),
                new RecipientAttempt("c@alpha.test", RecipientOutcome.Failed, SmtpReply.From(550, "5.1.1 unknown")),
            ], T0.AddMinutes(1)) { RetryAt = T0.AddHours(6), RemoteHost = "mx.alpha.test" });
    }

    [Fact]
    public void Deferred_recipients_are_due_one_warning_per_message_after_the_hours_and_never_again()
    {
        var state = Deferred();
        Assert.Empty(state.DelayWarningsDue(T0.AddHours(4).AddSeconds(-1), 4));

        var (id, recipients) = Assert.Single(state.DelayWarningsDue(T0.AddHours(4), 4));
        Assert.Equal("q1", id.Value);
        Assert.Equal([("a@alpha.test", "4.2.2"), ("b@alpha.test", "4.0.0")], recipients.Select(r => (r.Recipient, r.Status)));
        Assert.Equal("451 4.2.2 mailbox full", recipients[0].Diagnostic);

        state = state.Apply(new DomainEvents.DelayWarningsQueued(id, ["a@alpha.test", "b@alpha.test"], T0.AddHours(4)));
        Assert.Empty(state.DelayWarningsDue(T0.AddDays(1), 4));
        Assert.Empty(Deferred().DelayWarningsDue(T0.AddDays(1), 0));
    }

    [Fact]
    public void The_actor_wakes_up_for_a_warning_before_the_next_retry_and_not_after_it_was_sent()
    {
        var state = Deferred();
        Assert.Equal(T0.AddHours(4), state.NextWakeUp(5, 4));
        Assert.Equal(T0.AddHours(6), state.NextWakeUp(5, 0));
        state = state.Apply(new DomainEvents.DelayWarningsQueued(new QueueId("q1"), ["a@alpha.test", "b@alpha.test"], T0.AddHours(4)));
        Assert.Equal(T0.AddHours(6), state.NextWakeUp(5, 4));
    }

    [Theory]
    [InlineData("""{"timing":{"delayWarningHours":-1}}""", "must be a number of hours")]
    [InlineData("""{"timing":{"delayWarningHours":"4"}}""", "must be a number of hours")]
    [InlineData("""{"timing":{"retryDays":1,"delayWarningHours":24}}""", "must be below timing.retryDays × 24 (24 hours)")]
    public void A_bad_delay_warning_setting_is_refused_naming_the_field(string patch, string problem)
    {
        var (updated, errors) = SettingsDocument.ApplyPatch(new OperatorSettings(), System.Text.Json.Nodes.JsonNode.Parse(patch));
        Assert.Null(updated);
        Assert.Contains(problem, Assert.Single(errors, e => e.Key == "timing.delayWarningHours").Value[0]);
    }

    [Fact]
    public void The_setting_defaults_to_four_hours_reads_back_and_zero_turns_it_off()
    {
        Assert.Equal(4, new OperatorSettings().Timing.EffectiveDelayWarningHours);
        // A short retry period without the setting (a configuration, or settings from before it existed) is valid: off.
        var shortRetry = new OperatorSettings { Timing = new TimingSettings { RetryDays = 0.1 } };
        Assert.Empty(SettingsDocument.Validate(shortRetry));
        Assert.Equal(0, shortRetry.Timing.EffectiveDelayWarningHours);
        var (updated, _) = SettingsDocument.ApplyPatch(new OperatorSettings(), System.Text.Json.Nodes.JsonNode.Parse("""{"timing":{"delayWarningHours":0}}"""));
        Assert.Equal(0, updated!.Timing.DelayWarningHours);
        Assert.Equal(0, SettingsDocument.ToJson(updated)["timing"]!["delayWarningHours"]!.GetValue<double>());
    }
}
