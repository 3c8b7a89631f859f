using Akka.Actor;
using Akka.TestKit.Xunit2;
using AyTrack.Actors.Shaping;
using AyTrack.Core.Shaping;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace AyTrack.Integration.Tests.Actors;

/// <summary>
/// An operator's site suspend and resume as another node sends them: applied when they pass the checks the API makes,
/// dropped when not (a cluster message is input like any other), and never applied twice on the node that sent them.
/// </summary>
public sealed class SitesAgentTests() : TestKit("""
    akka.actor.provider = cluster
    akka.remote.dot-netty.tcp { hostname = 127.0.0.1, port = 0 }
    """)
{
    private static readonly DateTimeOffset Then = new(2026, 12, 1, 9, 0, 0, TimeSpan.Zero);

    private sealed class RecordingOperations : ISiteOperations
    {
        public List<string> Calls { get; } = [];

        public SiteChange? Suspend(string site, DateTimeOffset until, string reason)
        {
            lock (Calls)
            {
                Calls.Add($"suspend {site} until {until:O}: {reason}");
            }

            return new SiteChange(site, "suspended", reason, Then, until);
        }

        public SiteChange? Resume(string site, string reason)
        {
            lock (Calls)
            {
                Calls.Add($"resume {site}: {reason}");
            }

            return null;
        }
    }

    [Fact]
    public void Commands_from_a_peer_are_checked_and_the_senders_own_are_not_applied_again()
    {
        var operations = new RecordingOperations();
        var agent = Sys.ActorOf(SitesAgent.Props(operations, new FakeTimeProvider(Then)));
        var self = Akka.Cluster.Cluster.Get(Sys).SelfAddress.ToString();
        const string Peer = "akka.ssl.tcp://aytrack@127.0.0.1:4053";

        agent.Tell(new SiteCommands.Suspend("mx.bad site.test", Then.AddHours(1), "spaces are not a site", Peer));
        agent.Tell(new SiteCommands.Suspend(new string('a', 3000), Then.AddHours(1), "too long", Peer));
        agent.Tell(new SiteCommands.Suspend("mx.a.test", Then.AddDays(60), "longer than any duration allows", Peer));
        agent.Tell(new SiteCommands.Suspend("mx.a.test", Then.AddHours(1), new string('r', 401), Peer));
        agent.Tell(new SiteCommands.Suspend("mx.a.test", Then.AddHours(1), "two lines\nforged log line", Peer));
        agent.Tell(new SiteCommands.Resume("mx.bad site.test", "resumed by admin", Peer));
        agent.Tell(new SiteCommands.Suspend("mx.a.test", Then.AddHours(1), "sent by this node, applied already", self));
        // The operator's 200 characters and who gave them: what the API itself stores and sends.
        var reason = new string('p', 200) + " (by aytrack-page from 2001:db8::1 (token admin))";
        agent.Tell(new SiteCommands.Suspend("mx.a.test", Then.AddHours(1), reason, Peer));
        agent.Tell(new SiteCommands.Resume("mx.a.test", "resumed by admin", Peer));

        AwaitCondition(() => { lock (operations.Calls) { return operations.Calls.Count == 2; } });
        ExpectNoMsg(TimeSpan.FromMilliseconds(300));
        lock (operations.Calls)
        {
            Assert.Equal([$"suspend mx.a.test until {Then.AddHours(1):O}: {reason}", "resume mx.a.test: resumed by admin"], operations.Calls);
        }
    }
}
