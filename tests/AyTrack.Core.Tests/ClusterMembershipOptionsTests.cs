using AyTrack.Core.Configuration;
using Xunit;

namespace AyTrack.Core.Tests;

public sealed class ClusterMembershipOptionsTests
{
    private static IReadOnlyDictionary<string, string> Validate(ClusterMembershipOptions cluster, string provider = "sqlite", string connection = "") =>
        ClusterMembershipOptions.Validate(cluster, new PersistenceOptions { Provider = provider, ConnectionString = connection });

    [Fact]
    public void A_single_node_with_sqlite_and_no_seeds_is_valid() => Assert.Empty(Validate(new ClusterMembershipOptions()));

    [Fact]
    public void Seed_nodes_with_sqlite_are_refused_naming_postgresql()
    {
        var errors = Validate(new ClusterMembershipOptions { Port = 4053, SeedNodes = ["akka.ssl.tcp://aytrack@10.0.0.5:4053"] });

        Assert.Contains("postgresql", Assert.Contains("AyTrack:Persistence:Provider", errors));
    }

    [Fact]
    public void Seed_nodes_need_a_fixed_port()
    {
        var errors = Validate(new ClusterMembershipOptions { SeedNodes = ["akka.ssl.tcp://aytrack@10.0.0.5:4053"] }, "postgresql", "Host=db");

        Assert.Equal(["AyTrack:Cluster:Port"], errors.Keys);
    }

    [Fact]
    public void A_cluster_on_postgresql_with_a_port_and_seeds_is_valid() =>
        Assert.Empty(Validate(new ClusterMembershipOptions { Port = 4053, SeedNodes = ["akka.ssl.tcp://aytrack@10.0.0.5:4053", "akka.ssl.tcp://aytrack@node2:4053"] },
            "postgresql", "Host=db;Database=aytrack"));

    [Theory]
    [InlineData("10.0.0.5:4053")]
    [InlineData("akka.ssl.tcp://other@10.0.0.5:4053")]
    [InlineData("akka.ssl.tcp://aytrack@10.0.0.5")]
    [InlineData("http://aytrack@10.0.0.5:4053")]
    public void A_malformed_seed_is_named_by_its_index(string seed)
    {
        var errors = Validate(new ClusterMembershipOptions { Port = 4053, SeedNodes = ["akka.ssl.tcp://aytrack@10.0.0.4:4053", seed] }, "postgresql", "Host=db");

        Assert.Contains(seed, Assert.Contains("AyTrack:Cluster:SeedNodes:1", errors));
    }

    [Fact]
    public void Postgresql_without_a_connection_string_and_an_unknown_provider_are_refused()
    {
        Assert.Contains("AyTrack:Persistence:ConnectionString", Validate(new ClusterMembershipOptions(), "postgresql").Keys);
        Assert.Contains("AyTrack:Persistence:Provider", Validate(new ClusterMembershipOptions(), "mysql").Keys);
    }

    [Fact]
    public void Every_node_has_the_delivery_role_besides_its_own()
    {
        Assert.Equal(["delivery", "edge"], new ClusterMembershipOptions { Roles = ["edge", "delivery", " "] }.AllRoles);
    }

    [Fact]
    public void A_seed_whose_scheme_does_not_match_the_cluster_tls_setting_is_refused_naming_the_key()
    {
        var plainSeed = Validate(new ClusterMembershipOptions { Port = 4053, SeedNodes = ["akka.tcp://aytrack@10.0.0.5:4053"] }, "postgresql", "Host=db");
        var tlsSeed = Validate(new ClusterMembershipOptions
        {
            Port = 4053, SeedNodes = ["akka.ssl.tcp://aytrack@10.0.0.5:4053"], Tls = new ClusterTlsOptions { Enabled = false },
        }, "postgresql", "Host=db");

        Assert.Contains("AyTrack:Cluster:Tls:Enabled is true", Assert.Contains("AyTrack:Cluster:SeedNodes:0", plainSeed));
        Assert.Contains("AyTrack:Cluster:Tls:Enabled is false", Assert.Contains("AyTrack:Cluster:SeedNodes:0", tlsSeed));
    }

    [Fact]
    public void Plain_seeds_are_valid_only_with_tls_turned_off() =>
        Assert.Empty(Validate(new ClusterMembershipOptions
        {
            Port = 4053, SeedNodes = ["akka.tcp://aytrack@10.0.0.5:4053"], Tls = new ClusterTlsOptions { Enabled = false },
        }, "postgresql", "Host=db"));

    [Fact]
    public void A_trusted_thumbprint_must_be_sha256_hex()
    {
        var errors = Validate(new ClusterMembershipOptions
        {
            Tls = new ClusterTlsOptions { TrustedThumbprints = [new string('a', 64), "AB:CD", new string('0', 40)] },
        });

        Assert.Equal(["AyTrack:Cluster:Tls:TrustedThumbprints:1", "AyTrack:Cluster:Tls:TrustedThumbprints:2"], errors.Keys.Order());
    }
}
