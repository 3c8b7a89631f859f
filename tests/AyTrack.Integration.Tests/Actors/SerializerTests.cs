using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit.Xunit2;
using AyTrack.Actors.Domains;
using AyTrack.Actors.Serialization;
using AyTrack.Actors.Settings;
using AyTrack.Core.Settings;
using AyTrack.Core.Addresses;
using AyTrack.Core.Delivery;
using AyTrack.Core.Domains;
using Xunit;

namespace AyTrack.Integration.Tests.Actors;

/// <summary>Events survive a round trip through the journal's serializer and carry fixed manifests.</summary>
public sealed class SerializerTests() : TestKit(ConfigurationFactory.ParseString($$"""
    akka.actor.serializers.aytrack = "{{typeof(AyTrackSerializer).AssemblyQualifiedName}}"
    akka.actor.serialization-bindings {
      "{{typeof(IDomainEvent).AssemblyQualifiedName}}" = aytrack
      "{{typeof(DomainQueueSnapshot).AssemblyQualifiedName}}" = aytrack
      "{{typeof(ConfigCommands.ChangeSettings).AssemblyQualifiedName}}" = aytrack
    }
    """))
{
    [Fact]
    public void Domain_events_and_snapshots_round_trip_with_stable_manifests()
    {
        var at = new DateTimeOffset(2026, 11, 27, 10, 0, 0, TimeSpan.Zero);
        object[] values =
        [
            new DomainEvents.MessageEnqueued(new QueueId("q1"), new RecipientDomain("Alpha.test"), ["a@alpha.test"], at),
            new DomainEvents.AttemptCompleted(new QueueId("q1"),
                [new RecipientAttempt("a@alpha.test", RecipientOutcome.Deferred, SmtpReply.From(451, "4.3.0 later"))], at),
            new DomainEvents.MessagesEnqueued([new DomainEvents.MessageEnqueued(new QueueId("q2"), new RecipientDomain("alpha.test"), ["b@alpha.test"], at)]),
            new DomainEvents.AttemptsCompleted([new DomainEvents.AttemptCompleted(new QueueId("q2"),
                [new RecipientAttempt("b@alpha.test", RecipientOutcome.Delivered, SmtpReply.From(250, "2.0.0 Ok"))], at) { RemoteHost = "mx.alpha.test" }]),
            new DomainQueueSnapshot([new DomainQueueSnapshot.Message("q1", at, [new DomainQueueSnapshot.Recipient("a@alpha.test", RecipientState.Deferred, 2, "451 4.3.0 later")])]),
        ];

        foreach (var value in values)
        {
            var serializer = (AyTrackSerializer)Sys.Serialization.FindSerializerFor(value);
            var manifest = serializer.Manifest(value);
            var copy = serializer.FromBinary(serializer.ToBinary(value), manifest);

            Assert.StartsWith("domain.", manifest);
            Assert.Equal(System.Text.Json.JsonSerializer.Serialize(value, value.GetType()), System.Text.Json.JsonSerializer.Serialize(copy, copy.GetType()));
        }
    }

    [Fact]
    public void A_settings_change_crosses_the_cluster_with_the_password_sealed()
    {
        const string password = "correct-horse-battery-staple";
        var secrets = SecretBox.LoadOrCreate(Path.Combine(Directory.CreateTempSubdirectory("aytrack-key").FullName, "secrets.key"));
        var (patch, errors) = SettingsPatchSealing.Seal($$$"""{"relay":{"host":"smtp.relay.test","password":"{{{password}}}"}}""", secrets);
        Assert.Empty(errors);
        var command = new ConfigCommands.ChangeSettings(patch!.Patch, 3, "cli", "node") { SealedPassword = patch.SealedPassword };

        var serializer = Sys.Serialization.FindSerializerFor(command);
        var bytes = serializer.ToBinary(command);

        Assert.IsType<AyTrackSerializer>(serializer);
        Assert.True(bytes.AsSpan().IndexOf(System.Text.Encoding.UTF8.GetBytes(password)) < 0, "the serialized command holds the password");
        var back = (ConfigCommands.ChangeSettings)((AyTrackSerializer)serializer).FromBinary(bytes, "settings.cmd.change.v1");
        Assert.Equal(password, secrets.Open(back.SealedPassword!).Reveal());
        Assert.Equal("""{"relay":{"host":"smtp.relay.test"}}""", back.Patch);
    }

    [Fact]
    public void An_unknown_manifest_is_an_error_not_a_silent_null()
    {
        var serializer = new AyTrackSerializer((ExtendedActorSystem)Sys);

        Assert.Throws<System.Runtime.Serialization.SerializationException>(() => serializer.FromBinary("{}"u8.ToArray(), "domain.nope.v9"));
    }
}
