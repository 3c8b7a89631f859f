using Akka.Actor;
using AyTrack.Integration.Tests.Support;
using AyTrack.Loopback;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace AyTrack.Integration.Tests;

/// <summary>Where sharding keeps its state: the journal only, never a LightningDB store beside it.</summary>
public sealed class ShardingStoreTests
{
    [Fact]
    public async Task Sharding_keeps_no_durable_distributed_data_and_still_delivers()
    {
        await using var world = LoopbackWorld.Create();
        var sink = world.AddDomain("alpha.test");
        await using var node = await TestNode.StartAsync(world);

        var config = node.Services.GetRequiredService<ActorSystem>().Settings.Config;
        Assert.Empty(config.GetStringList("akka.cluster.sharding.distributed-data.durable.keys"));

        await node.SendAsync(TestNode.NewMessage("app@sender.test", ["user@alpha.test"], "sharded"));
        Assert.Single(await sink.WaitForAsync(1, TimeSpan.FromSeconds(30)));
        Assert.Empty(Directory.GetDirectories(AppContext.BaseDirectory, "ddata*"));
        Assert.Empty(Directory.GetDirectories(node.DataDir, "ddata*"));
    }
}
