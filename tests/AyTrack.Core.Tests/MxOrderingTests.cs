using AyTrack.Core.Delivery;
using Xunit;

namespace AyTrack.Core.Tests;

public sealed class MxOrderingTests
{
    [Fact]
    public void Hosts_come_in_ascending_preference()
    {
        var route = MxOrdering.Order("example.test", [new(30, "c.example.test"), new(10, "a.example.test."), new(20, "B.example.test")], new Random(1));

        var hosts = Assert.IsType<MxRoute.Hosts>(route);
        Assert.Equal(["a.example.test", "b.example.test", "c.example.test"], hosts.Names);
        Assert.False(hosts.Implicit);
    }

    [Fact]
    public void Equal_preferences_are_shuffled_but_never_placed_before_a_better_preference()
    {
        // RFC 5321 §5.1: hosts of equal preference are tried in random order to spread load.
        var records = new List<MxRecord> { new(5, "first.test") };
        records.AddRange(Enumerable.Range(0, 4).Select(i => new MxRecord(10, $"peer{i}.test")));
        var seenFirstPeer = new HashSet<string>();

        for (var seed = 0; seed < 200; seed++)
        {
            var hosts = Assert.IsType<MxRoute.Hosts>(MxOrdering.Order("x.test", records, new Random(seed))).Names;
            Assert.Equal("first.test", hosts[0]);
            Assert.Equal(5, hosts.Count);
            seenFirstPeer.Add(hosts[1]);
        }

        Assert.Equal(4, seenFirstPeer.Count);
    }

    [Fact]
    public void No_MX_records_means_the_domain_itself_is_the_implicit_MX()
    {
        var hosts = Assert.IsType<MxRoute.Hosts>(MxOrdering.Order("plain.test", [], new Random(1)));

        Assert.Equal(["plain.test"], hosts.Names);
        Assert.True(hosts.Implicit);
    }

    [Fact]
    public void A_single_dot_exchange_is_a_null_MX()
    {
        Assert.IsType<MxRoute.NullMx>(MxOrdering.Order("nomail.test", [new(0, ".")], new Random(1)));
    }

    [Fact]
    public void A_null_MX_beside_real_records_is_ignored()
    {
        var hosts = Assert.IsType<MxRoute.Hosts>(MxOrdering.Order("odd.test", [new(0, "."), new(10, "mx.odd.test")], new Random(1)));

        Assert.Equal(["mx.odd.test"], hosts.Names);
    }

    [Fact]
    public void A_host_listed_twice_is_tried_once()
    {
        var hosts = Assert.IsType<MxRoute.Hosts>(MxOrdering.Order("d.test", [new(10, "mx.d.test"), new(20, "MX.d.test.")], new Random(1)));

        Assert.Equal(["mx.d.test"], hosts.Names);
    }
}
