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

    [Fact]
    public async Task A_delay_warning_is_a_delayed_dsn_for_those_whose_notify_allows_it_and_never_to_a_null_sender()
    {
        var clock = new FakeTimeProvider(Then);
        var log = new CollectingLog();
        var dsn = new AyTrack.Core.Dsn.DsnOptions(null, null, new Dictionary<string, AyTrack.Core.Dsn.DsnRecipient>
        {
            ["quiet@alpha.test"] = new(AyTrack.Core.Dsn.DsnNotify.Failure, null, null),
        });
        await ((ISpool)Spool).AcceptAsync(new SpoolEnvelope(new QueueId("slow"), "alice@sender.test",
            [EmailAddress.Parse("bob@alpha.test"), EmailAddress.Parse("quiet@alpha.test")], Then.AddHours(-4), false, "<slow@sender.test>") { Dsn = dsn },
            "Subject: hi\r\n\r\nbody\r\n"u8.ToArray(), CancellationToken.None);
        await ((ISpool)Spool).AcceptAsync(new SpoolEnvelope(new QueueId("null"), string.Empty, [EmailAddress.Parse("carol@alpha.test")],
            Then.AddHours(-4), false, null), "Subject: a bounce\r\n\r\nbody\r\n"u8.ToArray(), CancellationToken.None);
        var bouncer = Sys.ActorOf(BounceActor.Props(Spool, log, "mx.aytrack.test", clock));

        bouncer.Tell(new BounceCommands.WarnDelay(new QueueId("slow"), [
            new BounceRecipient("bob@alpha.test", "4.2.2", "452 4.2.2 mailbox full", "mx.alpha.test"),
            new BounceRecipient("quiet@alpha.test", "4.2.2", "452 4.2.2 mailbox full", "mx.alpha.test"),
        ]));
        Assert.Equal(["bob@alpha.test", "quiet@alpha.test"], ExpectMsg<BounceCommands.DelayWarningQueued>().Recipients);
        bouncer.Tell(new BounceCommands.WarnDelay(new QueueId("null"), [new BounceRecipient("carol@alpha.test", "4.0.0", "421 later", null)]));
        ExpectMsg<BounceCommands.DelayWarningQueued>();

        var warning = Assert.Single(await Spool.ReadOutboxAsync(100, CancellationToken.None), e => e.Domain.Value == "sender.test");
        var message = MimeMessage.Load(new MemoryStream((await Spool.LoadAsync(warning.Id, CancellationToken.None))!.Body));
        Assert.Equal("Delayed Mail (still being retried)", message.Subject);
        var groups = message.BodyParts.OfType<MessageDeliveryStatus>().Single().StatusGroups.Skip(1).Where(g => g.Count > 0).ToList();
        var group = Assert.Single(groups);
        Assert.Equal(("rfc822; bob@alpha.test", "delayed", "4.2.2"), (group["Final-Recipient"], group["Action"], group["Status"]));
        Assert.Contains("(MailboxFull)", message.TextBody);
        Assert.Equal(["bob@alpha.test"], log.Entries.Where(e => e.Outcome == "delay-warned").Select(e => e.Recipient));
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
