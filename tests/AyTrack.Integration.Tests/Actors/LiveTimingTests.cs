using Akka.Actor;
using AyTrack.Actors.Domains;
using AyTrack.Actors.Workers;
using AyTrack.Core.Addresses;
using AyTrack.Core.Delivery;
using AyTrack.Core.Domains;
using AyTrack.Core.Settings;
using AyTrack.Core.Spool;
using Xunit;

namespace AyTrack.Integration.Tests.Actors;

/// <summary>The sending schedule and the rate cap as the domain actor applies them.</summary>
/// <remarks>Expectations wait up to 15 s: a loaded CI machine runs many nodes beside these tests.</remarks>
public sealed class LiveTimingTests() : SpoolTestKit("akka.test.single-expect-default = 15s")
{
    [Fact]
    public void A_closed_gate_that_a_settings_change_opens_sends_at_the_next_wake()
    {
        var closed = WithWindow(DateTimeOffset.UtcNow.AddHours(3));
        var live = new LiveSettings(closed);
        var workers = CreateTestProbe();
        var actor = Sys.ActorOf(DomainDeliveryActor.Props(Domain.Value, workers, CreateTestProbe(), Spool,
            new DomainActorSettings(5, 10, TimeSpan.FromMinutes(1)), live, new DeliveryRate(DateTimeOffset.UtcNow)));
        actor.Tell(new DomainCommands.EnqueueBatch(Domain, [new DomainCommands.NewMessage(Domain, new QueueId("q1"), ["a@alpha.test"], DateTimeOffset.UtcNow)]));
        ExpectMsg<DomainCommands.EnqueuedBatch>();
        workers.ExpectNoMsg(TimeSpan.FromMilliseconds(500));

        live.Update(new SettingsSnapshot(new OperatorSettings(), 2));
        actor.Tell(new DomainCommands.Wake(Domain));

        workers.ExpectMsg<WorkerCommands.DeliverBatch>();
    }

    internal static OperatorSettings WithWindow(DateTimeOffset start)
    {
        var utc = start.UtcDateTime;
        var window = new ScheduleWindow
        {
            Days = [SettingsDocument.DayNames[((int)utc.DayOfWeek + 6) % 7]],
            Start = utc.ToString("HH:mm"),
            End = utc.AddMinutes(1).ToString("HH:mm"),
        };
        return new OperatorSettings { Timing = new TimingSettings { Schedule = new ScheduleSettings { Windows = [window] } } };
    }
}
