using AyTrack.Integration.Tests.Support;
using Xunit;

namespace AyTrack.Integration.Tests;

/// <summary>Mail relayed to AyTrack over SMTP reaches the recipient domain's MX in the loopback world.</summary>
public sealed class DirectDeliveryTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_message_relayed_over_SMTP_arrives_at_the_first_MX()
    {
        // Story: one domain, two MX hosts; the preferred one (10) takes the message, the backup (20) sees nothing.
        await using var world = LoopbackWorld.LoopbackWorld.Create();
        var primary = world.AddSink("mx1.alpha.test");
        var backup = world.AddSink("mx2.alpha.test");
        world.Dns.AddMx("alpha.test", 10, "mx1.alpha.test").AddMx("alpha.test", 20, "mx2.alpha.test");
        await using var node = await TestNode.StartAsync(world);

        var message = TestNode.NewMessage("app@sender.test", ["alice@alpha.test"], "first MX");
        var reply = await node.SendAsync(message);

        Assert.StartsWith("2.0.0 Ok: queued as ", reply);
        var received = Assert.Single(await primary.WaitForAsync(1, Patience));
        Assert.Equal("app@sender.test", received.From);
        Assert.Equal(["alice@alpha.test"], received.To);
        var delivered = received.Parse();
        Assert.Equal(message.MessageId, delivered.MessageId);
        Assert.Equal("first MX", delivered.Subject);
        Assert.StartsWith("Received: from ", received.Text);
        Assert.Empty(backup.Received);
    }
}
