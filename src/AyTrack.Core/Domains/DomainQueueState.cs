using System.Collections.Immutable;
using AyTrack.Core.Addresses;
using AyTrack.Core.Delivery;

namespace AyTrack.Core.Domains;

public enum RecipientState
{
    /// <summary>Waiting for a session.</summary>
    Pending,

    /// <summary>Temporarily failed; tried again at <see cref="RecipientStatus.NextAttemptAt"/>.</summary>
    Deferred,

    /// <summary>Permanently failed or expired; waiting until its delivery status notification is queued.</summary>
    Bouncing,
}

/// <summary>
/// One recipient's delivery state. <see cref="Status"/> is the RFC 3463 code a bounce reports (the reply's enhanced
/// code, or 5.4.7 for an expired recipient).
/// </summary>
public sealed record RecipientStatus(RecipientState State, int Attempts, string? LastReply)
{
    public DateTimeOffset? NextAttemptAt { get; init; }

    public string? RemoteMta { get; init; }

    public string? Status { get; init; }

    /// <summary>Held by an operator: neither tried nor expired until released.</summary>
    public bool Held { get; init; }

    /// <summary>The sender was told once that this recipient is delayed (timing.delayWarningHours).</summary>
    public bool DelayWarned { get; init; }
}

/// <summary>A recipient whose delivery status notification must be sent.</summary>
public sealed record BounceRecipient(string Recipient, string Status, string Diagnostic, string? RemoteMta);

public sealed record QueuedMessage(QueueId Id, DateTimeOffset ArrivedAt, ImmutableSortedDictionary<string, RecipientStatus> Recipients)
{
    private readonly ImmutableSortedDictionary<string, RecipientStatus> _recipients = Recipients;

    public ImmutableSortedDictionary<string, RecipientStatus> Recipients
    {
        get => _recipients;
        init
        {
            _recipients = value;
            Summary = RecipientSummary.Of(value);
        }
    }

    /// <summary>
    /// What the queue's looks ask of the recipients, worked out when they change (and with <c>with</c>, whose
    /// copy would otherwise keep the old one) rather than at every look, which reads every queued message.
    /// </summary>
    public RecipientSummary Summary { get; private init; } = RecipientSummary.Of(Recipients);
}

/// <summary>
/// A message's recipients as the domain actor's looks at its queue see them. Kept with every queued message, so it is
/// compact (24 bytes: two instants as UTC ticks and a set of flags; a million queued messages carry it).
/// </summary>
public readonly record struct RecipientSummary
{
    private const long None = long.MaxValue;

    private readonly long _due;
    private readonly long _retry;
    private readonly Flags _flags;

    private RecipientSummary(long due, long retry, Flags flags)
    {
        _due = due;
        _retry = retry;
        _flags = flags;
    }

    [Flags]
    private enum Flags : byte
    {
        Deferred = 1,
        DeferredUnwarned = 2,
        PendingUnwarned = 4,
        Bouncing = 8,
    }

    /// <summary>
    /// When the first of its recipients may be tried: <see cref="DateTimeOffset.MinValue"/> when one is pending, else
    /// the earliest retry time of a deferred one; null when none can be (all held, bouncing, or deferred without a time).
    /// </summary>
    public DateTimeOffset? EarliestDue => _due == None ? null : new DateTimeOffset(_due, TimeSpan.Zero);

    /// <summary>The earliest retry time of a deferred, not held recipient.</summary>
    public DateTimeOffset? EarliestRetry => _retry == None ? null : new DateTimeOffset(_retry, TimeSpan.Zero);

    /// <summary>A recipient is deferred and not held: the message waits on time (retry, expiry).</summary>
    public bool HasDeferred => (_flags & Flags.Deferred) != 0;

    /// <summary>… and its sender has not been warned of the delay yet.</summary>
    public bool HasDeferredUnwarned => (_flags & Flags.DeferredUnwarned) != 0;

    /// <summary>A recipient not tried yet, not held, not warned (delayed behind an unreachable domain).</summary>
    public bool HasPendingUnwarned => (_flags & Flags.PendingUnwarned) != 0;

    /// <summary>A recipient's bounce still has to be queued.</summary>
    public bool HasBouncing => (_flags & Flags.Bouncing) != 0;

    public static RecipientSummary Of(ImmutableSortedDictionary<string, RecipientStatus> recipients)
    {
        long due = None, retry = None;
        var flags = default(Flags);
        foreach (var (_, status) in recipients)
        {
            if (status.State == RecipientState.Bouncing)
            {
                flags |= Flags.Bouncing;
                continue;
            }

            if (status.Held)
            {
                continue;
            }

            if (status.State == RecipientState.Pending)
            {
                due = DateTimeOffset.MinValue.UtcTicks;
                flags |= status.DelayWarned ? 0 : Flags.PendingUnwarned;
                continue;
            }

            flags |= Flags.Deferred | (status.DelayWarned ? 0 : Flags.DeferredUnwarned);
            if (status.NextAttemptAt is { } next)
            {
                retry = Math.Min(retry, next.UtcTicks);
                due = Math.Min(due, next.UtcTicks);
            }
        }

        return new RecipientSummary(due, retry, flags);
    }
}

/// <summary>
/// The persisted state of one recipient domain's queue. Pure: commands become events through
/// <see cref="Process(DomainCommands.NewMessage)"/>, events change state through <see cref="Apply"/>; the actor only
/// persists and replies. Final recipients (delivered or failed) leave the state, so it holds only live mail.
/// </summary>
public sealed record DomainQueueState(ImmutableSortedDictionary<string, QueuedMessage> Messages)
{
    private static readonly IComparer<(DateTimeOffset ArrivedAt, string Id)> ArrivalComparer = Comparer<(DateTimeOffset ArrivedAt, string Id)>.Create(
        (a, b) => a.ArrivedAt.CompareTo(b.ArrivedAt) is var c and not 0 ? c : string.CompareOrdinal(a.Id, b.Id));

    // Every recipient not tried yet has the same (immutable) status: one instance instead of 80 bytes per queued
    // recipient, which a million messages waiting behind dead domains would otherwise hold.
    private static readonly RecipientStatus NotTried = new(RecipientState.Pending, 0, null);

    public static DomainQueueState Empty { get; } = new(ImmutableSortedDictionary<string, QueuedMessage>.Empty.WithComparers(StringComparer.Ordinal));

    /// <summary>
    /// The messages in arrival order (oldest first), kept beside <see cref="Messages"/> so that taking the next batch or
    /// finding expired mail does not sort a queue of 100,000 messages on every look. Every change of
    /// <see cref="Messages"/> in this type changes it too.
    /// </summary>
    private ImmutableSortedDictionary<(DateTimeOffset ArrivedAt, string Id), QueuedMessage> Arrival { get; init; } =
        ImmutableSortedDictionary.CreateRange(ArrivalComparer, Messages.Values.Select(m => KeyValuePair.Create((m.ArrivedAt, m.Id.Value), m)));

    /// <summary>
    /// The ids of messages with a recipient whose bounce still has to be queued, so that the actor's look for them after
    /// every event does not read a queue of 100,000 deferred messages. Kept with <see cref="Messages"/> like
    /// <see cref="Arrival"/>.
    /// </summary>
    private ImmutableSortedSet<string> Bouncing { get; init; } =
        ImmutableSortedSet.CreateRange(StringComparer.Ordinal, Messages.Values.Where(m => m.Summary.HasBouncing).Select(m => m.Id.Value));

    /// <summary>
    /// Enqueuing is idempotent: the outbox may repeat it after a crash, so recipients already queued are ignored and
    /// only new ones become an event (null when there is nothing new).
    /// </summary>
    public DomainEvents.MessageEnqueued? Process(DomainCommands.NewMessage command)
    {
        var known = Messages.TryGetValue(command.Id.Value, out var existing) ? existing.Recipients : null;
        var fresh = command.Recipients
            .Distinct(StringComparer.Ordinal)
            .Where(r => known is null || !known.ContainsKey(r))
            .ToList();

        return fresh.Count == 0 ? null : new DomainEvents.MessageEnqueued(command.Id, command.Domain, fresh, command.ArrivedAt);
    }

    public DomainQueueState Apply(IDomainEvent @event) => @event switch
    {
        DomainEvents.MessageEnqueued e => ApplyEnqueued(e),
        DomainEvents.AttemptCompleted e => ApplyAttempt(e),
        DomainEvents.MessagesEnqueued e => e.Messages.Aggregate(this, (state, m) => state.ApplyEnqueued(m)),
        DomainEvents.AttemptsCompleted e => e.Attempts.Aggregate(this, (state, a) => state.ApplyAttempt(a)),
        DomainEvents.RecipientsExpired e => Update(e.Id, e.Recipients, status => status with
        {
            State = RecipientState.Bouncing,
            Status = "5.4.7",
            LastReply = status.LastReply ?? "no delivery attempt succeeded before the message expired",
        }),
        DomainEvents.BouncesQueued e => Update(e.Id, e.Recipients, _ => null),
        DomainEvents.DelayWarningsQueued e => Update(e.Id, e.Recipients, status => status with { DelayWarned = true }),
        DomainEvents.OperatorActed e => Update(e.Id, e.Recipients, status => e.Operation switch
        {
            QueueOperation.Retry => status with { NextAttemptAt = e.At },
            QueueOperation.Hold => status with { Held = true },
            QueueOperation.Release => status with { Held = false, NextAttemptAt = e.At },
            QueueOperation.Delete => null,
            QueueOperation.Bounce => status with
            {
                State = RecipientState.Bouncing,
                Held = false,
                Status = "5.0.0",
                LastReply = status.LastReply is null ? "bounced by the operator" : $"bounced by the operator; last reply: {status.LastReply}",
            },
            _ => status,
        }),
        _ => throw new ArgumentOutOfRangeException(nameof(@event), @event.GetType().Name, "unknown domain event"),
    };

    /// <summary>
    /// The recipients an operator's action applies to (all messages, or one): retry takes deferred and pending ones, hold takes
    /// those still trying, release takes held ones, delete and bounce take every recipient not already bouncing.
    /// </summary>
    public IReadOnlyList<DomainEvents.OperatorActed> Act(QueueOperation operation, QueueId? id, DateTimeOffset now, IReadOnlySet<string> inFlight)
    {
        var events = new List<DomainEvents.OperatorActed>();
        foreach (var message in Messages.Values.Where(m => id is null || m.Id == id))
        {
            // A message in a session is left alone by destructive actions: its result is on its way.
            if (inFlight.Contains(message.Id.Value) && operation is QueueOperation.Delete or QueueOperation.Bounce or QueueOperation.Hold)
            {
                continue;
            }

            var recipients = message.Recipients.Where(r => operation switch
            {
                // Pending ones too: behind a domain that could not be reached they wait as deferred ones do.
                QueueOperation.Retry => r.Value.State is RecipientState.Deferred or RecipientState.Pending && !r.Value.Held,
                QueueOperation.Hold => r.Value.State != RecipientState.Bouncing && !r.Value.Held,
                QueueOperation.Release => r.Value.Held,
                _ => r.Value.State != RecipientState.Bouncing,
            }).Select(r => r.Key).ToList();
            if (recipients.Count > 0)
            {
                events.Add(new DomainEvents.OperatorActed(message.Id, operation, recipients, now));
            }
        }

        return events;
    }

    /// <summary>
    /// Recipients still trying (pending or deferred, not in a session) whose message is older than the lifetime:
    /// they give up with 5.4.7 (RFC 3463 §3.5, "delivery time expired").
    /// </summary>
    public IReadOnlyList<DomainEvents.RecipientsExpired> Expired(DateTimeOffset now, double retryDays, IReadOnlySet<string> inFlight)
    {
        var expired = new List<DomainEvents.RecipientsExpired>();
        foreach (var (_, message) in Arrival)
        {
            // Lifetimes are equal, so expired messages are the oldest ones: stop at the first that is not.
            if (RetrySchedule.ExpiresAt(message.ArrivedAt, retryDays) > now)
            {
                break;
            }

            if (inFlight.Contains(message.Id.Value))
            {
                continue;
            }

            var recipients = message.Recipients.Where(r => r.Value.State != RecipientState.Bouncing && !r.Value.Held).Select(r => r.Key).ToList();
            if (recipients.Count > 0)
            {
                expired.Add(new DomainEvents.RecipientsExpired(message.Id, recipients, now));
            }
        }

        return expired;
    }

    /// <summary>Messages with recipients whose bounce still has to be queued.</summary>
    public IReadOnlyList<(QueueId Id, IReadOnlyList<BounceRecipient> Recipients)> PendingBounces()
    {
        var pending = new List<(QueueId, IReadOnlyList<BounceRecipient>)>();
        foreach (var id in Bouncing)
        {
            var message = Messages[id];
            var bouncing = new List<BounceRecipient>();
            foreach (var (name, status) in message.Recipients)
            {
                if (status.State == RecipientState.Bouncing)
                {
                    bouncing.Add(new BounceRecipient(name, status.Status ?? "5.0.0", status.LastReply ?? string.Empty, status.RemoteMta));
                }
            }

            pending.Add((message.Id, bouncing));
        }

        return pending;
    }

    /// <summary>
    /// Deferred recipients (not held; behind an unreachable domain, pending ones too) whose message arrived at least
    /// <paramref name="delayWarningHours"/> ago and who were not warned yet: each message's are warned together, once.
    /// Nothing when warnings are off (0).
    /// </summary>
    /// <param name="unreachable">
    /// Why the domain could not be reached, while it waits out that interval (<see cref="DomainReachability"/>): its
    /// recipients not tried yet are delayed as much as deferred ones, and are warned too, with this as the diagnostic.
    /// </param>
    /// <param name="inFlight">Messages in a session now: their pending recipients are being tried, not delayed.</param>
    public IReadOnlyList<(QueueId Id, IReadOnlyList<BounceRecipient> Recipients)> DelayWarningsDue(DateTimeOffset now, double delayWarningHours,
        string? unreachable = null, IReadOnlySet<string>? inFlight = null)
    {
        var due = new List<(QueueId, IReadOnlyList<BounceRecipient>)>();
        if (delayWarningHours <= 0)
        {
            return due;
        }

        foreach (var (_, message) in Arrival)
        {
            // Arrival order: the first message not old enough ends the search.
            if (message.ArrivedAt.AddHours(delayWarningHours) > now)
            {
                break;
            }

            var waiting = unreachable is not null && inFlight?.Contains(message.Id.Value) != true;
            if (!message.Summary.HasDeferredUnwarned && !(waiting && message.Summary.HasPendingUnwarned))
            {
                continue;
            }

            var delayed = message.Recipients
                .Where(r => r.Value is { Held: false, DelayWarned: false } &&
                            (r.Value.State == RecipientState.Deferred || (waiting && r.Value.State == RecipientState.Pending)))
                .Select(r => r.Value.LastReply is null && r.Value.State == RecipientState.Pending
                    ? new BounceRecipient(r.Key, DelayStatus(unreachable), unreachable ?? string.Empty, null)
                    : new BounceRecipient(r.Key, DelayStatus(r.Value.LastReply), r.Value.LastReply ?? string.Empty, r.Value.RemoteMta))
                .ToList();
            if (delayed.Count > 0)
            {
                due.Add((message.Id, delayed));
            }
        }

        return due;
    }

    /// <summary>
    /// When the actor must next look at its queue: the earliest retry, expiry or delay warning of a deferred
    /// recipient; null when nothing waits on time.
    /// </summary>
    public DateTimeOffset? NextWakeUp(double retryDays, double delayWarningHours = 0)
    {
        DateTimeOffset? earliest = null;
        foreach (var (_, message) in Messages)
        {
            // Per recipient the time is min(its retry, the message's expiry, the warning if it was not warned), so
            // over the message it is min(the earliest retry, expiry, the warning if any was not warned).
            var summary = message.Summary;
            if (!summary.HasDeferred)
            {
                continue;
            }

            var expiry = RetrySchedule.ExpiresAt(message.ArrivedAt, retryDays);
            var due = summary.EarliestRetry is { } next && next < expiry ? next : expiry;
            if (delayWarningHours > 0 && summary.HasDeferredUnwarned && message.ArrivedAt.AddHours(delayWarningHours) is var warning && warning < due)
            {
                due = warning;
            }

            earliest = earliest is null || due < earliest ? due : earliest;
        }

        return earliest;
    }

    // RFC 3464 §2.3.4: a delayed recipient's status is a 4.x.x code; the last reply's, else "4.0.0".
    private static string DelayStatus(string? lastReply) =>
        lastReply is { Length: > 4 } && int.TryParse(lastReply.AsSpan(0, 3), out var code) && SmtpReply.From(code, lastReply[4..]).Enhanced is { } enhanced &&
        enhanced.StartsWith('4')
            ? enhanced
            : "4.0.0";

    /// <summary>Whether <see cref="NextBatch"/> would find anything: stops at the first message with a due recipient.</summary>
    public bool HasDue(IReadOnlySet<string> inFlight, DateTimeOffset now)
    {
        foreach (var (_, message) in Arrival)
        {
            if (IsDue(message, inFlight, now))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>A recipient of the message may be tried now, and the message is not in a session.</summary>
    private static bool IsDue(QueuedMessage message, IReadOnlySet<string> inFlight, DateTimeOffset now) =>
        message.Summary.EarliestDue is { } earliest && earliest <= now && !inFlight.Contains(message.Id.Value);

    /// <summary>
    /// The next messages to hand to a session: pending recipients and deferred ones whose retry time has come,
    /// oldest message first, skipping messages already in flight.
    /// </summary>
    public IReadOnlyList<BatchItem> NextBatch(int maxMessages, IReadOnlySet<string> inFlight, DateTimeOffset now)
    {
        var batch = new List<BatchItem>();
        foreach (var (_, message) in Arrival)
        {
            if (batch.Count >= maxMessages)
            {
                break;
            }

            if (!IsDue(message, inFlight, now))
            {
                continue;
            }

            List<string>? due = null;
            var attempts = 0;
            foreach (var (name, status) in message.Recipients)
            {
                if (!status.Held && (status.State == RecipientState.Pending || (status.State == RecipientState.Deferred && status.NextAttemptAt <= now)))
                {
                    (due ??= []).Add(name);
                    attempts = Math.Max(attempts, status.Attempts);
                }
            }

            if (due is not null)
            {
                batch.Add(new BatchItem(message.Id, due, attempts + 1));
            }
        }

        return batch;
    }

    private DomainQueueState ApplyEnqueued(DomainEvents.MessageEnqueued e)
    {
        var message = Messages.TryGetValue(e.Id.Value, out var existing)
            ? existing
            : new QueuedMessage(e.Id, e.ArrivedAt, ImmutableSortedDictionary<string, RecipientStatus>.Empty.WithComparers(StringComparer.Ordinal));
        var recipients = message.Recipients;
        foreach (var r in e.Recipients)
        {
            recipients = recipients.SetItem(r, NotTried);
        }

        return With(message, recipients);
    }

    private DomainQueueState ApplyAttempt(DomainEvents.AttemptCompleted e)
    {
        if (!Messages.TryGetValue(e.Id.Value, out var message))
        {
            return this;
        }

        var recipients = message.Recipients;
        foreach (var result in e.Results)
        {
            if (!recipients.TryGetValue(result.Recipient, out var status))
            {
                continue;
            }

            recipients = result.Outcome switch
            {
                RecipientOutcome.Delivered => recipients.Remove(result.Recipient),
                RecipientOutcome.Deferred => recipients.SetItem(result.Recipient, status with
                {
                    State = RecipientState.Deferred,
                    Attempts = status.Attempts + 1,
                    LastReply = result.Reply.ToString(),
                    NextAttemptAt = e.RetryAt ?? e.At,
                    RemoteMta = e.RemoteHost ?? status.RemoteMta,
                }),
                RecipientOutcome.Held => recipients.SetItem(result.Recipient, status with
                {
                    Held = true,
                    Attempts = status.Attempts + 1,
                    LastReply = result.Reply.ToString(),
                }),
                _ => recipients.SetItem(result.Recipient, status with
                {
                    State = RecipientState.Bouncing,
                    Attempts = status.Attempts + 1,
                    LastReply = result.Reply.ToString(),
                    RemoteMta = e.RemoteHost ?? status.RemoteMta,
                    Status = result.Reply.Enhanced is { Length: > 0 } enhanced && enhanced[0] == '5' ? enhanced : "5.0.0",
                }),
            };
        }

        return With(message, recipients);
    }

    /// <summary>Changes (or, when <paramref name="change"/> returns null, removes) the named recipients of a message.</summary>
    private DomainQueueState Update(QueueId id, IReadOnlyList<string> names, Func<RecipientStatus, RecipientStatus?> change)
    {
        if (!Messages.TryGetValue(id.Value, out var message))
        {
            return this;
        }

        var recipients = message.Recipients;
        foreach (var name in names)
        {
            if (recipients.TryGetValue(name, out var status))
            {
                recipients = change(status) is { } changed ? recipients.SetItem(name, changed) : recipients.Remove(name);
            }
        }

        return With(message, recipients);
    }

    private DomainQueueState With(QueuedMessage message, ImmutableSortedDictionary<string, RecipientStatus> recipients)
    {
        if (recipients.IsEmpty)
        {
            return this with
            {
                Messages = Messages.Remove(message.Id.Value),
                Arrival = Arrival.Remove((message.ArrivedAt, message.Id.Value)),
                Bouncing = Bouncing.Remove(message.Id.Value),
            };
        }

        var changed = message with { Recipients = recipients };
        return this with
        {
            Messages = Messages.SetItem(message.Id.Value, changed),
            Arrival = Arrival.SetItem((message.ArrivedAt, message.Id.Value), changed),
            Bouncing = changed.Summary.HasBouncing ? Bouncing.Add(message.Id.Value) : Bouncing.Remove(message.Id.Value),
        };
    }
}
