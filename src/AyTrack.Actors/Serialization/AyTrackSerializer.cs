using System.Runtime.Serialization;
using System.Text.Json;
using Akka.Actor;
using Akka.Serialization;
using AyTrack.Actors.Dkim;
using AyTrack.Actors.Users;
using AyTrack.Actors.Domains;
using AyTrack.Actors.Settings;
using AyTrack.Core.Domains;

namespace AyTrack.Actors.Serialization;

/// <summary>
/// The serializer for everything AyTrack persists or sends between nodes. Each type has a fixed short manifest that
/// never changes once written to a journal: renaming or moving a class must not make old events unreadable. A new
/// shape of an event gets a new manifest (".v2") and both stay readable.
/// </summary>
public sealed class AyTrackSerializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
{
    public const int SerializerId = 4_711;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.General)
    {
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() },
    };

    private static readonly IReadOnlyDictionary<string, Type> TypesByManifest = new Dictionary<string, Type>
    {
        ["domain.enqueued.v1"] = typeof(DomainEvents.MessageEnqueued),
        ["domain.attempt.v1"] = typeof(DomainEvents.AttemptCompleted),
        ["domain.enqueued-batch.v1"] = typeof(DomainEvents.MessagesEnqueued),
        ["domain.attempts.v1"] = typeof(DomainEvents.AttemptsCompleted),
        ["domain.expired.v1"] = typeof(DomainEvents.RecipientsExpired),
        ["domain.bounced.v1"] = typeof(DomainEvents.BouncesQueued),
        ["domain.operator.v1"] = typeof(DomainEvents.OperatorActed),
        ["domain.delay-warned.v1"] = typeof(DomainEvents.DelayWarningsQueued),
        ["domain.cmd.action.v1"] = typeof(DomainCommands.QueueAction),
        ["domain.cmd.actiondone.v1"] = typeof(DomainCommands.QueueActionDone),
        ["domain.snapshot.v1"] = typeof(DomainQueueSnapshot),
        ["domain.cmd.enqueuebatch.v1"] = typeof(DomainCommands.EnqueueBatch),
        ["domain.cmd.enqueuedbatch.v1"] = typeof(DomainCommands.EnqueuedBatch),
        ["domain.cmd.wake.v1"] = typeof(DomainCommands.Wake),
        ["domain.q.get.v1"] = typeof(DomainQueries.GetQueue),
        ["domain.q.status.v1"] = typeof(DomainQueries.QueueStatus),
        ["domain.q.messages.v1"] = typeof(DomainQueries.GetMessages),
        ["domain.q.messagelist.v1"] = typeof(DomainQueries.QueueMessages),
        ["settings.seeded.v1"] = typeof(ConfigEvents.SettingsSeeded),
        ["settings.changed.v1"] = typeof(ConfigEvents.SettingsChanged),
        ["settings.published.v1"] = typeof(SettingsPublished),
        ["settings.cmd.get.v1"] = typeof(ConfigCommands.GetSettings),
        ["settings.cmd.change.v1"] = typeof(ConfigCommands.ChangeSettings),
        ["settings.cmd.history.v1"] = typeof(ConfigCommands.GetHistory),
        ["settings.r.current.v1"] = typeof(ConfigReplies.CurrentSettings),
        ["settings.r.changed.v1"] = typeof(ConfigReplies.Changed),
        ["settings.r.rejected.v1"] = typeof(ConfigReplies.Rejected),
        ["settings.r.conflict.v1"] = typeof(ConfigReplies.VersionConflict),
        ["settings.r.history.v1"] = typeof(ConfigReplies.History),
        ["dkim.added.v1"] = typeof(DkimEvents.KeyAdded),
        ["dkim.activated.v1"] = typeof(DkimEvents.KeyActivated),
        ["dkim.removed.v1"] = typeof(DkimEvents.KeyRemoved),
        ["dkim.published.v1"] = typeof(DkimKeysPublished),
        ["dkim.cmd.get.v1"] = typeof(DkimCommands.GetKeys),
        ["dkim.cmd.add.v1"] = typeof(DkimCommands.AddKey),
        ["dkim.cmd.activate.v1"] = typeof(DkimCommands.ActivateKey),
        ["dkim.cmd.remove.v1"] = typeof(DkimCommands.RemoveKey),
        ["dkim.r.keys.v1"] = typeof(DkimReplies.Keys),
        ["dkim.r.rejected.v1"] = typeof(DkimReplies.Rejected),
        ["dkim.r.notfound.v1"] = typeof(DkimReplies.NotFound),
        ["users.added.v1"] = typeof(UserEvents.Added),
        ["users.removed.v1"] = typeof(UserEvents.Removed),
        ["users.password.v1"] = typeof(UserEvents.PasswordChanged),
        ["users.domains.v1"] = typeof(UserEvents.SenderDomainsChanged),
        ["users.published.v1"] = typeof(UsersPublished),
        ["users.cmd.get.v1"] = typeof(UserCommands.GetUsers),
        ["users.cmd.add.v1"] = typeof(UserCommands.AddUser),
        ["users.cmd.remove.v1"] = typeof(UserCommands.RemoveUser),
        ["users.cmd.password.v1"] = typeof(UserCommands.SetPassword),
        ["users.cmd.domains.v1"] = typeof(UserCommands.SetSenderDomains),
        ["users.r.users.v1"] = typeof(UserReplies.Users),
        ["users.r.rejected.v1"] = typeof(UserReplies.Rejected),
        ["users.r.notfound.v1"] = typeof(UserReplies.NotFound),
        ["sites.cmd.suspend.v1"] = typeof(AyTrack.Actors.Shaping.SiteCommands.Suspend),
        ["sites.cmd.resume.v1"] = typeof(AyTrack.Actors.Shaping.SiteCommands.Resume),
        ["threads.override.v1"] = typeof(ThreadCommands.OverrideThreads),
        ["threads.get.v1"] = typeof(ThreadCommands.GetThreads),
        ["threads.status.v1"] = typeof(ThreadCommands.ThreadsStatus),
    };

    private static readonly IReadOnlyDictionary<Type, string> ManifestsByType =
        TypesByManifest.ToDictionary(kv => kv.Value, kv => kv.Key);

    /// <summary>The types bound to this serializer in the actor system's configuration.</summary>
    public static IEnumerable<Type> BoundTypes => TypesByManifest.Values;

    /// <summary>Every manifest this serializer writes and reads.</summary>
    public static IEnumerable<string> Manifests => TypesByManifest.Keys;

    public override int Identifier => SerializerId;

    public override string Manifest(object o) => ManifestsByType.TryGetValue(o.GetType(), out var manifest)
        ? manifest
        : throw new ArgumentException($"{o.GetType()} has no manifest in {nameof(AyTrackSerializer)}");

    public override byte[] ToBinary(object obj) => JsonSerializer.SerializeToUtf8Bytes(obj, obj.GetType(), Json);

    public override object FromBinary(byte[] bytes, string manifest) => TypesByManifest.TryGetValue(manifest, out var type)
        ? JsonSerializer.Deserialize(bytes, type, Json) ?? throw new SerializationException($"empty payload for {manifest}")
        : throw new SerializationException($"unknown manifest '{manifest}'");
}
