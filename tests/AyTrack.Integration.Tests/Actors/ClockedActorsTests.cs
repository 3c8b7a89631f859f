using Akka.Actor;
using Akka.TestKit.Xunit2;
using AyTrack.Actors.Bounces;
using AyTrack.Actors.Settings;
using AyTrack.Core.Addresses;
using AyTrack.Core.Delivery;
using AyTrack.Core.Domains;
using AyTrack.Core.Settings;
using AyTrack.Core.Spool;
using Microsoft.Extensions.Time.Testing;
using MimeKit;
using Xunit;

namespace AyTrack.Integration.Tests.Actors;

/// <summary>
/// The bounce actor stamps its DSN and the delivery log, the config actor its audit history, with the time of the
/// clock they were given: a fake one here, set to a day that is plainly not today.
/// </summary>
public sealed class BounceClockTests() : SpoolTestKit("")
{
    private static readonly DateTimeOffset Then = new(2031, 3, 4, 5, 6, 7, TimeSpan.Zero);

    [Fact]
    public async Task The_dsn_and_the_delivery_log_carry_the_actors_clock()
    {
        var clock = new FakeTimeProvider(Then);
        var log = new CollectingLog();
        await ((ISpool)Spool).AcceptAsync(new SpoolEnvelope(new QueueId("orig"), "alice@sender.test", [EmailAddress.Parse("bob@alpha.test")],
            Then.AddHours(-1), false, "<orig@sender.test>"), "Subject: hi\r\n\r\nbody\r\n"u8.ToArray(), CancellationToken.None);
        var bouncer = Sys.ActorOf(BounceActor.Props(Spool, log, "mx.aytrack.test", clock));

        bouncer.Tell(new BounceCommands.Bounce(new QueueId("orig"),
            [new BounceRecipient("bob@alpha.test", "5.1.1", "550 5.1.1 no such user", "mx.alpha.test")]));
        ExpectMsg<BounceCommands.BounceQueued>();

        var dsnEntry = Assert.Single(await Spool.ReadOutboxAsync(100, CancellationToken.None), e => e.Domain.Value == "sender.test");
        Assert.Equal(Then, dsnEntry.ReceivedAt);
        var dsn = await Spool.LoadAsync(dsnEntry.Id, CancellationToken.None);
        var message = MimeMessage.Load(new MemoryStream(dsn!.Body));
        Assert.Equal(Then, message.Date);
        Assert.Equal(Then, Assert.Single(log.Entries).Time);
    }

    private sealed class CollectingLog : IDeliveryLog
    {
        public List<DeliveryLogEntry> Entries { get; } = [];

        public void Write(IEnumerable<DeliveryLogEntry> entries) => Entries.AddRange(entries);
    }
}

public sealed class ConfigClockTests() : TestKit("""
    akka.actor.provider = cluster
    akka.remote.dot-netty.tcp { hostname = 127.0.0.1, port = 0 }
    """), IDisposable
{
    private static readonly DateTimeOffset Then = new(2031, 3, 4, 5, 6, 7, TimeSpan.Zero);
    private readonly string _keyDir = Directory.CreateTempSubdirectory("aytrack-config-clock").FullName;

    [Fact]
    public void The_audit_history_is_stamped_with_the_config_actors_clock()
    {
        var clock = new FakeTimeProvider(Then);
        var secrets = SecretBox.LoadOrCreate(Path.Combine(_keyDir, "secrets.key"));
        var config = Sys.ActorOf(ConfigActor.Props(new OperatorSettings(), [], secrets, clock));

        config.Tell(new ConfigCommands.GetSettings());
        ExpectMsg<ConfigReplies.CurrentSettings>();
        clock.Advance(TimeSpan.FromHours(2));
        config.Tell(new ConfigCommands.ChangeSettings("""{"timing":{"retryDays":3}}""", null, "tester", "node-a"));
        ExpectMsg<ConfigReplies.Changed>();
        config.Tell(new ConfigCommands.GetHistory());

        var history = ExpectMsg<ConfigReplies.History>().Entries;
        Assert.Equal([Then, Then.AddHours(2)], history.Select(h => h.At));
    }

    void IDisposable.Dispose() => Directory.Delete(_keyDir, true);
}
