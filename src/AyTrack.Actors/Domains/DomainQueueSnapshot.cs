using System.Collections.Immutable;
using AyTrack.Core.Addresses;
using AyTrack.Core.Domains;

namespace AyTrack.Actors.Domains;

/// <summary>The snapshot form of <see cref="DomainQueueState"/>: plain lists, so its JSON does not depend on collection types.</summary>
public sealed record DomainQueueSnapshot(IReadOnlyList<DomainQueueSnapshot.Message> Messages)
{
    public sealed record Message(string Id, DateTimeOffset ArrivedAt, IReadOnlyList<Recipient> Recipients);

    /// <param name="DelayWarned">Added later: written only when true, so snapshots without it read as before.</param>
    public sealed record Recipient(string Address, RecipientState State, int Attempts, string? LastReply,
        DateTimeOffset? NextAttemptAt = null, string? RemoteMta = null, string? Status = null, bool Held = false,
        [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingDefault)]
        bool DelayWarned = false);

    public static DomainQueueSnapshot From(DomainQueueState state) => new(state.Messages.Values
        .Select(m => new Message(m.Id.Value, m.ArrivedAt,
            m.Recipients.Select(r => new Recipient(r.Key, r.Value.State, r.Value.Attempts, r.Value.LastReply,
                r.Value.NextAttemptAt, r.Value.RemoteMta, r.Value.Status, r.Value.Held, r.Value.DelayWarned)).ToList()))
        .ToList());

    public DomainQueueState ToState()
    {
        var messages = ImmutableSortedDictionary.CreateBuilder<string, QueuedMessage>(StringComparer.Ordinal);
        foreach (var m in Messages)
        {
            var recipients = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal,
                m.Recipients.Select(r => KeyValuePair.Create(r.Address, new RecipientStatus(r.State, r.Attempts, r.LastReply)
                {
                    NextAttemptAt = r.NextAttemptAt,
                    RemoteMta = r.RemoteMta,
                    Status = r.Status,
                    Held = r.Held,
                    DelayWarned = r.DelayWarned,
                })));
            messages[m.Id] = new QueuedMessage(new QueueId(m.Id), m.ArrivedAt, recipients);
        }

        return new DomainQueueState(messages.ToImmutable());
    }
}
