using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit.Xunit2;
using AyTrack.Actors.Dkim;
using AyTrack.Actors.Domains;
using AyTrack.Actors.Serialization;
using AyTrack.Actors.Settings;
using AyTrack.Actors.Users;
using AyTrack.Core.Addresses;
using AyTrack.Core.Delivery;
using AyTrack.Core.Dkim;
using AyTrack.Core.Domains;
using AyTrack.Core.Users;
using AyTrack.Integration.Tests.Support;
using Xunit;

namespace AyTrack.Integration.Tests.Actors;

/// <summary>
/// Every persisted event and snapshot and every message that crosses the cluster has a committed sample of its bytes
/// (Actors/Golden/&lt;manifest&gt;.json). Each sample must deserialize under its manifest and serialize back to the
/// same bytes, and today's sample object must serialize to them: renaming or retyping a property, or changing a
/// manifest, fails here instead of replaying old journals as nulls. (AYTRACK_WRITE_GOLDEN=1 writes missing samples; a
/// new shape gets a new manifest and a new file, never an edited old one.)
/// </summary>
public sealed class WireFormatTests() : TestKit(ConfigurationFactory.ParseString(ProductionBindings()))
{
    private static readonly DateTimeOffset At = new(2026, 11, 27, 10, 0, 0, TimeSpan.Zero);
    private static readonly string GoldenDirectory = Path.Combine(Repository.Root, "tests", "AyTrack.Integration.Tests", "Actors", "Golden");

    public static TheoryData<string> Manifests => [.. Samples().Keys];

    [Fact]
    public void Every_type_the_serializer_binds_has_a_sample()
    {
        Assert.Equal(AyTrackSerializer.Manifests.Order(StringComparer.Ordinal), Samples().Keys.Order(StringComparer.Ordinal));
        Assert.Equal(Samples().Keys.Select(m => m + ".json").Order(StringComparer.Ordinal),
            Directory.GetFiles(GoldenDirectory, "*.json", SearchOption.TopDirectoryOnly).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Theory]
    [MemberData(nameof(Manifests))]
    public void A_committed_sample_reads_back_and_writes_the_same_bytes(string manifest)
    {
        var sample = Samples()[manifest];
        var serializer = Sys.Serialization.FindSerializerFor(sample);
        Assert.IsType<AyTrackSerializer>(serializer);
        Assert.Equal(manifest, ((AyTrackSerializer)serializer).Manifest(sample));
        var bytes = serializer.ToBinary(sample);
        var file = Path.Combine(GoldenDirectory, manifest + ".json");
        if (!File.Exists(file) && Environment.GetEnvironmentVariable("AYTRACK_WRITE_GOLDEN") == "1")
        {
            File.WriteAllBytes(file, bytes);
        }

        Assert.True(File.Exists(file), $"{file} is missing: a new manifest needs its sample committed");
        var golden = File.ReadAllBytes(file);
        var read = ((AyTrackSerializer)serializer).FromBinary(golden, manifest);

        Assert.Equal(sample.GetType(), read.GetType());
        Assert.Equal(System.Text.Encoding.UTF8.GetString(golden), System.Text.Encoding.UTF8.GetString(serializer.ToBinary(read)));
        Assert.Equal(System.Text.Encoding.UTF8.GetString(golden), System.Text.Encoding.UTF8.GetString(bytes));
    }

    /// <summary>
    /// Optional fields added to a shape after its first sample (written only when set, so the first sample's bytes
    /// stay as they were) are pinned by a second sample each, in Golden/later/: renaming one fails here too.
    /// </summary>
    [Fact]
    public void Optional_fields_added_later_have_their_own_samples()
    {
        var laterSamples = new Dictionary<string, (string Manifest, object Sample)>
        {
            ["domain.snapshot.v1.delay-warned"] = ("domain.snapshot.v1", new DomainQueueSnapshot([new DomainQueueSnapshot.Message("0f3a9c2e1b7d4a58", At,
                [new DomainQueueSnapshot.Recipient("b@alpha.test", RecipientState.Deferred, 2, "451 4.2.2 mailbox full", At.AddHours(1), DelayWarned: true)])])),
        };
        var directory = Path.Combine(GoldenDirectory, "later");
        foreach (var (name, (manifest, sample)) in laterSamples)
        {
            var serializer = (AyTrackSerializer)Sys.Serialization.FindSerializerFor(sample);
            Assert.Equal(manifest, serializer.Manifest(sample));
            var bytes = serializer.ToBinary(sample);
            var file = Path.Combine(directory, name + ".json");
            if (!File.Exists(file) && Environment.GetEnvironmentVariable("AYTRACK_WRITE_GOLDEN") == "1")
            {
                Directory.CreateDirectory(directory);
                File.WriteAllBytes(file, bytes);
            }

            Assert.True(File.Exists(file), $"{file} is missing");
            var golden = File.ReadAllBytes(file);
            Assert.Equal(System.Text.Encoding.UTF8.GetString(golden), System.Text.Encoding.UTF8.GetString(bytes));
            Assert.Equal(System.Text.Encoding.UTF8.GetString(golden), System.Text.Encoding.UTF8.GetString(serializer.ToBinary(serializer.FromBinary(golden, manifest))));
        }

        Assert.Equal(laterSamples.Keys.Select(k => k + ".json").Order(StringComparer.Ordinal),
            Directory.GetFiles(directory).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    /// <summary>The serializer bound as the node binds it (AddAyTrackActors: every type of AyTrackSerializer.BoundTypes).</summary>
    private static string ProductionBindings() =>
        $"akka.actor.serializers.aytrack = \"{typeof(AyTrackSerializer).AssemblyQualifiedName}\"\n" +
        "akka.actor.serialization-bindings {\n" +
        string.Concat(AyTrackSerializer.BoundTypes.Select(t => $"  \"{t.AssemblyQualifiedName}\" = aytrack\n")) + "}\n";

    /// <summary>A fixed value in the stored hash format (salt and hash are placeholders), so the samples' bytes never change.</summary>
    private const string Hash = "pbkdf2-sha256$600000$c2FsdHNhbHRzYWx0c2FsdA==$3q2+7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

    private static Dictionary<string, object> Samples()
    {
        var user = new SubmissionUser("app@example.test", Hash, ["example.test"], At, At.AddDays(1));
        var domain = new RecipientDomain("alpha.test");
        var q1 = new QueueId("0f3a9c2e1b7d4a58");
        var enqueued = new DomainEvents.MessageEnqueued(q1, domain, ["a@alpha.test", "b@alpha.test"], At);
        var attempt = new DomainEvents.AttemptCompleted(q1,
        [
            new RecipientAttempt("a@alpha.test", RecipientOutcome.Delivered, SmtpReply.From(250, "2.0.0 Ok: queued as 4711")),
            new RecipientAttempt("b@alpha.test", RecipientOutcome.Deferred, SmtpReply.From(451, "4.7.1 greylisted")),
            new RecipientAttempt("c@alpha.test", RecipientOutcome.Failed, SmtpReply.From(550, "5.1.1 no such user")),
            new RecipientAttempt("d@alpha.test", RecipientOutcome.Held, SmtpReply.From(451, "4.3.0 content cannot be read")),
        ], At)
        {
            RetryAt = At.AddMinutes(5),
            RemoteHost = "mx.alpha.test",
        };
        var current = new ConfigReplies.CurrentSettings(7, """{"mode":"Direct"}""", "c2VhbGVk", new Dictionary<string, string> { ["mode"] = "default" })
        {
            Invalid = "settings version 8 does not validate",
        };
        // A sealed value's shape (nonce, ciphertext and tag in base64), not a real key.
        var dkimKey = new DkimKeyEntry("example.test", "s2026", DkimAlgorithm.Ed25519, "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
            "v1:AAECAwQFBgcICQoL:c2VhbGVkIGtleQ==:AAECAwQFBgcICQoLDA0ODw==", true, At);
        return new Dictionary<string, object>
        {
            ["domain.enqueued.v1"] = enqueued,
            ["domain.attempt.v1"] = attempt,
            ["domain.enqueued-batch.v1"] = new DomainEvents.MessagesEnqueued([enqueued]),
            ["domain.attempts.v1"] = new DomainEvents.AttemptsCompleted([attempt]),
            ["domain.expired.v1"] = new DomainEvents.RecipientsExpired(q1, ["b@alpha.test"], At),
            ["domain.bounced.v1"] = new DomainEvents.BouncesQueued(q1, ["c@alpha.test"], At),
            ["domain.delay-warned.v1"] = new DomainEvents.DelayWarningsQueued(q1, ["b@alpha.test"], At),
            ["domain.operator.v1"] = new DomainEvents.OperatorActed(q1, QueueOperation.Hold, ["b@alpha.test"], At),
            ["domain.cmd.action.v1"] = new DomainCommands.QueueAction(domain, q1, QueueOperation.Retry),
            ["domain.cmd.actiondone.v1"] = new DomainCommands.QueueActionDone(domain, QueueOperation.Retry, 2),
            ["domain.snapshot.v1"] = new DomainQueueSnapshot([new DomainQueueSnapshot.Message(q1.Value, At,
            [
                new DomainQueueSnapshot.Recipient("b@alpha.test", RecipientState.Deferred, 2, "451 4.7.1 greylisted", At.AddMinutes(5), "mx.alpha.test"),
                new DomainQueueSnapshot.Recipient("c@alpha.test", RecipientState.Bouncing, 1, "550 5.1.1 no such user", null, "mx.alpha.test", "5.1.1"),
                new DomainQueueSnapshot.Recipient("d@alpha.test", RecipientState.Pending, 1, "451 4.3.0 content cannot be read", Held: true),
            ])]),
            ["domain.cmd.enqueuebatch.v1"] = new DomainCommands.EnqueueBatch(domain, [new DomainCommands.NewMessage(domain, q1, ["a@alpha.test"], At)]),
            ["domain.cmd.enqueuedbatch.v1"] = new DomainCommands.EnqueuedBatch(domain, 1),
            ["domain.cmd.wake.v1"] = new DomainCommands.Wake(domain),
            ["domain.q.get.v1"] = new DomainQueries.GetQueue(domain),
            ["domain.q.status.v1"] = new DomainQueries.QueueStatus(domain, 3, 2, 1, At, "451 4.7.1 greylisted")
            {
                Bouncing = 1,
                Held = 1,
                NextAttempt = At.AddMinutes(5),
            },
            ["domain.q.messages.v1"] = new DomainQueries.GetMessages(domain, 100),
            ["domain.q.messagelist.v1"] = new DomainQueries.QueueMessages(domain, 2, [new DomainQueries.QueuedMessageView(q1, At,
                [new DomainQueries.QueuedRecipientView("a@alpha.test", RecipientState.Deferred, 2, "451 4.7.1 greylisted", At.AddMinutes(5), false)])]),
            ["settings.seeded.v1"] = new ConfigEvents.SettingsSeeded("""{"mode":"Direct"}""", null, new Dictionary<string, string> { ["mode"] = "configuration" }, At),
            ["settings.changed.v1"] = new ConfigEvents.SettingsChanged(2, """{"mode":"RelayAll"}""", "c2VhbGVk", ["mode", "relay.password"],
                "aytrack-cli from 127.0.0.1 (token admin)", "akka.ssl.tcp://aytrack@127.0.0.1:4053", At),
            ["settings.published.v1"] = new SettingsPublished(2, """{"mode":"RelayAll"}""", "c2VhbGVk") { Invalid = null },
            ["settings.cmd.get.v1"] = new ConfigCommands.GetSettings(),
            ["settings.cmd.change.v1"] = new ConfigCommands.ChangeSettings("""{"timing":{"threads":4}}""", 2, "api from 127.0.0.1 (token admin)",
                "akka.ssl.tcp://aytrack@127.0.0.1:4053") { SealedPassword = "c2VhbGVk" },
            ["settings.cmd.history.v1"] = new ConfigCommands.GetHistory(),
            ["settings.r.current.v1"] = current,
            ["settings.r.changed.v1"] = new ConfigReplies.Changed(current),
            ["settings.r.rejected.v1"] = new ConfigReplies.Rejected(new Dictionary<string, string[]> { ["timing.threads"] = ["must be between 1 and 500"] }),
            ["settings.r.conflict.v1"] = new ConfigReplies.VersionConflict(7),
            ["settings.r.history.v1"] = new ConfigReplies.History([new ConfigReplies.HistoryEntry(2, At, "cli", "node1", ["timing.threads"])]),
            ["dkim.added.v1"] = new DkimEvents.KeyAdded(dkimKey, "admin@127.0.0.1"),
            ["dkim.activated.v1"] = new DkimEvents.KeyActivated("example.test", "s2026", "admin@127.0.0.1", At),
            ["dkim.removed.v1"] = new DkimEvents.KeyRemoved("example.test", "s2025", "admin@127.0.0.1", At),
            ["dkim.published.v1"] = new DkimKeysPublished(3, [dkimKey]),
            ["dkim.cmd.get.v1"] = new DkimCommands.GetKeys(),
            ["dkim.cmd.add.v1"] = new DkimCommands.AddKey("example.test", "s2026", DkimAlgorithm.Ed25519, dkimKey.PublicKey, dkimKey.SealedPrivateKey, "admin@127.0.0.1"),
            ["dkim.cmd.activate.v1"] = new DkimCommands.ActivateKey("example.test", "s2026", "admin@127.0.0.1"),
            ["dkim.cmd.remove.v1"] = new DkimCommands.RemoveKey("example.test", "s2025", "admin@127.0.0.1"),
            ["dkim.r.keys.v1"] = new DkimReplies.Keys(3, [dkimKey]),
            ["dkim.r.rejected.v1"] = new DkimReplies.Rejected("selector", "must be a DNS label such as s2026"),
            ["dkim.r.notfound.v1"] = new DkimReplies.NotFound("example.test", "s2024"),
            ["users.added.v1"] = new UserEvents.Added(user, "admin@127.0.0.1"),
            ["users.removed.v1"] = new UserEvents.Removed("app@example.test", "admin@127.0.0.1", At),
            ["users.password.v1"] = new UserEvents.PasswordChanged("app@example.test", Hash, "admin@127.0.0.1", At),
            ["users.domains.v1"] = new UserEvents.SenderDomainsChanged("app@example.test", ["example.test"], "admin@127.0.0.1", At),
            ["users.published.v1"] = new UsersPublished(4, [user]),
            ["users.cmd.get.v1"] = new UserCommands.GetUsers(),
            ["users.cmd.add.v1"] = new UserCommands.AddUser("app@example.test", Hash, ["example.test", "mail.example.test"], "admin@127.0.0.1"),
            ["users.cmd.remove.v1"] = new UserCommands.RemoveUser("app@example.test", "admin@127.0.0.1"),
            ["users.cmd.password.v1"] = new UserCommands.SetPassword("app@example.test", Hash, "admin@127.0.0.1"),
            ["users.cmd.domains.v1"] = new UserCommands.SetSenderDomains("app@example.test", [], "admin@127.0.0.1"),
            ["users.r.users.v1"] = new UserReplies.Users(4, [user]),
            ["sites.cmd.suspend.v1"] = new AyTrack.Actors.Shaping.SiteCommands.Suspend("aspmx.l.google.com,alt1.aspmx.l.google.com", At.AddHours(2),
                "provider asked us to pause (by admin@127.0.0.1)", "akka.ssl.tcp://aytrack@127.0.0.1:4053"),
            ["sites.cmd.resume.v1"] = new AyTrack.Actors.Shaping.SiteCommands.Resume("relay:smtp.example.test:587", "resumed by admin@127.0.0.1",
                "akka.ssl.tcp://aytrack@127.0.0.1:4053"),
            ["users.r.rejected.v1"] = new UserReplies.Rejected("password", "must be at least 8 characters"),
            ["users.r.notfound.v1"] = new UserReplies.NotFound("nobody@example.test"),
            ["threads.override.v1"] = new ThreadCommands.OverrideThreads(3),
            ["threads.get.v1"] = new ThreadCommands.GetThreads(),
            ["threads.status.v1"] = new ThreadCommands.ThreadsStatus("akka.ssl.tcp://aytrack@127.0.0.1:4053", 3, 10, 3),
        };
    }
}
