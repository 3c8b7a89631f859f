using AyTrack.Core.Addresses;
using AyTrack.Core.Delivery;
using AyTrack.Core.Domains;
using Xunit;

namespace AyTrack.Core.Tests;

/// <summary>
/// The queue's looks read a summary of each message's recipients, kept when they change, rather than the recipients.
/// Over random histories (enqueues, attempts of every outcome, operator actions, warnings, bounces, rebuilds) every look
/// must answer what its definition, read recipient by recipient, answers.
/// </summary>
public sealed class QueueLookTests
{
    private static readonly RecipientDomain Domain = new("alpha.test");
    private static readonly DateTimeOffset T0 = new(2026, 11, 27, 10, 0, 0, TimeSpan.Zero);
    private const double RetryDays = 1;
    private const double WarningHours = 2;

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void Every_look_answers_as_its_recipient_by_recipient_definition(int seed)
    {
        var random = new Random(seed);
        var state = DomainQueueState.Empty;
        var ids = new List<QueueId>();
        var inFlight = new HashSet<string>();
        for (var step = 0; step < 400; step++)
        {
            var at = T0.AddMinutes(step * 3);
            state = state.Apply(NextEvent(random, state, ids, at));
            if (random.Next(10) == 0)
            {
                // A rebuild (a snapshot read back) keeps every summary.
                state = new DomainQueueState(state.Messages);
            }

            inFlight.Clear();
            foreach (var id in state.Messages.Keys.Where(_ => random.Next(4) == 0))
            {
                inFlight.Add(id);
            }

            var now = at.AddMinutes(random.Next(-30, 300));
            var unreachable = random.Next(3) == 0 ? "451 4.4.1 no answer" : null;

            Assert.Equal(Describe(ReferenceBatch(state, 5, inFlight, now)), Describe(state.NextBatch(5, inFlight, now)));
            Assert.Equal(ReferenceBatch(state, 1, inFlight, now).Count > 0, state.HasDue(inFlight, now));
            Assert.Equal(ReferenceWakeUp(state, RetryDays, WarningHours), state.NextWakeUp(RetryDays, WarningHours));
            Assert.Equal(ReferenceWakeUp(state, RetryDays, 0), state.NextWakeUp(RetryDays));
            Assert.Equal(ReferenceWarnings(state, now, unreachable, inFlight), Describe(state.DelayWarningsDue(now, WarningHours, unreachable, inFlight)));
            Assert.Equal(ReferenceBouncing(state), state.PendingBounces().Select(p => p.Id.Value).Order(StringComparer.Ordinal).ToList());
        }
    }

    private static IDomainEvent NextEvent(Random random, DomainQueueState state, List<QueueId> ids, DateTimeOffset at)
    {
        var live = state.Messages.Values.ToList();
        if (live.Count == 0 || random.Next(4) == 0)
        {
            var id = new QueueId($"m{ids.Count:D4}");
            ids.Add(id);
            var recipients = Enumerable.Range(0, random.Next(1, 4)).Select(i => $"r{i}@alpha.test").ToList();
            return new DomainEvents.MessageEnqueued(id, Domain, recipients, at.AddMinutes(-random.Next(0, 600)));
        }

        var message = live[random.Next(live.Count)];
        var names = message.Recipients.Keys.Where(_ => random.Next(2) == 0).DefaultIfEmpty(message.Recipients.Keys.First()).ToList();
        return random.Next(6) switch
        {
            0 or 1 => new DomainEvents.AttemptCompleted(message.Id,
                names.Select(n => new RecipientAttempt(n, (RecipientOutcome)random.Next(4), SmtpReply.From(451, "4.3.0 later"))).ToList(), at)
            {
                RetryAt = random.Next(5) == 0 ? null : at.AddMinutes(random.Next(1, 240)),
            },
            2 => new DomainEvents.OperatorActed(message.Id, (QueueOperation)random.Next(Enum.GetValues<QueueOperation>().Length), names, at),
            3 => new DomainEvents.DelayWarningsQueued(message.Id, names, at),
            4 => new DomainEvents.BouncesQueued(message.Id, names.Where(n => message.Recipients[n].State == RecipientState.Bouncing).ToList(), at),
            _ => new DomainEvents.RecipientsExpired(message.Id, names, at),
        };
    }

    private static IReadOnlyList<BatchItem> ReferenceBatch(DomainQueueState state, int max, IReadOnlySet<string> inFlight, DateTimeOffset now) =>
        state.Messages.Values
            .OrderBy(m => m.ArrivedAt).ThenBy(m => m.Id.Value, StringComparer.Ordinal)
            .Where(m => !inFlight.Contains(m.Id.Value))
            .Select(m => (m, due: m.Recipients
                .Where(r => !r.Value.Held && (r.Value.State == RecipientState.Pending || (r.Value.State == RecipientState.Deferred && r.Value.NextAttemptAt <= now)))
                .ToList()))
            .Where(x => x.due.Count > 0)
            .Take(max)
            .Select(x => new BatchItem(x.m.Id, x.due.Select(r => r.Key).ToList(), x.due.Max(r => r.Value.Attempts) + 1))
            .ToList();

    private static DateTimeOffset? ReferenceWakeUp(DomainQueueState state, double retryDays, double warningHours) =>
        state.Messages.Values
            .SelectMany(m => m.Recipients.Values
                .Where(r => r.State == RecipientState.Deferred && !r.Held)
                .Select(r =>
                {
                    var expiry = RetrySchedule.ExpiresAt(m.ArrivedAt, retryDays);
                    var due = r.NextAttemptAt is { } next && next < expiry ? next : expiry;
                    var warning = m.ArrivedAt.AddHours(warningHours);
                    return warningHours > 0 && !r.DelayWarned && warning < due ? warning : due;
                }))
            .Select(d => (DateTimeOffset?)d)
            .DefaultIfEmpty(null)
            .Min();

    private static List<string> ReferenceWarnings(DomainQueueState state, DateTimeOffset now, string? unreachable, IReadOnlySet<string> inFlight) =>
        state.Messages.Values
            .Where(m => m.ArrivedAt.AddHours(WarningHours) <= now)
            .OrderBy(m => m.ArrivedAt).ThenBy(m => m.Id.Value, StringComparer.Ordinal)
            .Select(m => (m, delayed: m.Recipients
                .Where(r => r.Value is { Held: false, DelayWarned: false } &&
                            (r.Value.State == RecipientState.Deferred ||
                             (unreachable is not null && !inFlight.Contains(m.Id.Value) && r.Value.State == RecipientState.Pending)))
                .Select(r => r.Key).ToList()))
            .Where(x => x.delayed.Count > 0)
            .Select(x => $"{x.m.Id.Value}:{string.Join(",", x.delayed)}")
            .ToList();

    private static List<string> ReferenceBouncing(DomainQueueState state) =>
        state.Messages.Values.Where(m => m.Recipients.Values.Any(r => r.State == RecipientState.Bouncing))
            .Select(m => m.Id.Value).Order(StringComparer.Ordinal).ToList();

    private static List<string> Describe(IReadOnlyList<BatchItem> batch) =>
        batch.Select(b => $"{b.Id.Value}:{string.Join(",", b.Recipients)}:{b.Attempt}").ToList();

    private static List<string> Describe(IReadOnlyList<(QueueId Id, IReadOnlyList<BounceRecipient> Recipients)> warnings) =>
        warnings.Select(w => $"{w.Id.Value}:{string.Join(",", w.Recipients.Select(r => r.Recipient))}").ToList();
}
