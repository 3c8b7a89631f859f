using System.Net.Http.Json;
using Akka.Actor;
using Akka.Actor.Setup;
using Akka.Configuration;
using Akka.Remote.Transport.DotNetty;
using AyTrack.Actors.Settings;
using AyTrack.Contracts;
using AyTrack.Contracts.Cluster;
using AyTrack.Integration.Tests.Support;
using AyTrack.Loopback;
using Xunit;

namespace AyTrack.Integration.Tests;

/// <summary>
/// The cluster port as an attacker on loopback meets it: an ActorSystem named like ours, speaking plain akka.tcp or
/// TLS with a certificate of its own (and no care for ours), tries to find and message the config singleton, the
/// settings agent and the sharding region. The node answers nothing, changes nothing, logs the refusal, stays healthy.
/// </summary>
public sealed class ClusterTransportSecurityTests
{
    private static readonly string[] Targets = ["/user/config/singleton", "/user/settings-agent", "/system/sharding/domain"];

    [Fact]
    public async Task A_system_without_a_trusted_certificate_gets_no_answer_and_changes_nothing()
    {
        await using var world = LoopbackWorld.Create();
        var dataDir = Directory.CreateTempSubdirectory("aytrack-remoting").FullName;
        await using var node = await NodeProcess.StartAsync(dataDir, world.NodeArguments(dataDir));
        using var http = node.CreateAdminClient();
        var before = await http.GetFromJsonAsync<SettingsWithSources>("/api/settings?include=sources", AyTrack.Cli.AdminClient.Json);
        var address = await SelfAddressAsync(http);
        Assert.StartsWith("akka.ssl.tcp://aytrack@127.0.0.1:", address);
        var port = new Uri(address).Port;

        using (var plain = ActorSystem.Create("aytrack", AttackerConfig(ssl: false)))
        {
            await AssertNoAnswerAsync(plain, $"akka.tcp://aytrack@127.0.0.1:{port}");
        }

        using var ownCertificate = ClusterCertificates.CreateNode("127.0.0.1", ["127.0.0.1"], null, DateTimeOffset.UtcNow);
        var setup = ActorSystemSetup.Create(BootstrapSetup.Create().WithConfig(AttackerConfig(ssl: true)),
            new DotNettySslSetup(ownCertificate, suppressValidation: true, requireMutualAuthentication: true));
        using (var tls = ActorSystem.Create("aytrack", setup))
        {
            await AssertNoAnswerAsync(tls, $"akka.ssl.tcp://aytrack@127.0.0.1:{port}");
        }

        var after = await http.GetFromJsonAsync<SettingsWithSources>("/api/settings?include=sources", AyTrack.Cli.AdminClient.Json);
        Assert.Equal(before!.Version, after!.Version);
        Assert.Equal(25, after.Settings["relay"]!["port"]!.GetValue<int>());
        Assert.True((await http.GetAsync("/healthz")).IsSuccessStatusCode);
        await Eventually.UntilAsync(() => Task.FromResult(NodeProcess.ReadLogs(dataDir).Contains("Cluster TLS: refused peer")), TimeSpan.FromSeconds(10));
        Assert.Contains("not in AyTrack:Cluster:Tls:TrustedThumbprints", NodeProcess.ReadLogs(dataDir));
    }

    [Fact]
    public async Task With_tls_turned_off_the_port_is_open_and_the_node_warns_at_start()
    {
        await using var world = LoopbackWorld.Create();
        var dataDir = Directory.CreateTempSubdirectory("aytrack-remoting").FullName;
        await using var node = await NodeProcess.StartAsync(dataDir, [.. world.NodeArguments(dataDir), "--AyTrack:Cluster:Tls:Enabled=false"]);
        using var http = node.CreateAdminClient();
        var address = await SelfAddressAsync(http);
        Assert.StartsWith("akka.tcp://aytrack@127.0.0.1:", address);

        // The very probe the test above makes gets an answer here: what the default closes is real.
        using var plain = ActorSystem.Create("aytrack", AttackerConfig(ssl: false));
        var identity = await plain.ActorSelection(address + "/user/settings-agent").Ask<ActorIdentity>(new Identify(1), TimeSpan.FromSeconds(20));
        Assert.NotNull(identity.Subject);
        Assert.Contains("Cluster port in PLAIN TEXT (AyTrack:Cluster:Tls:Enabled=false)", NodeProcess.ReadLogs(dataDir));
    }

    private static async Task AssertNoAnswerAsync(ActorSystem attacker, string node)
    {
        // A settings change as the config singleton takes it: if anything got through, relay.port would move.
        attacker.ActorSelection(node + "/user/config/singleton").Tell(new ConfigCommands.ChangeSettings("""{"relay":{"port":2525}}""", null, "attacker", "attacker"));
        var probes = Targets.Select(async path =>
        {
            try
            {
                // Every target exists on the node, so only a reference proves an answer from it; an empty identity is
                // what the attacker's own system says when the message could not be delivered.
                var identity = await attacker.ActorSelection(node + path).Ask<ActorIdentity>(new Identify(path), TimeSpan.FromSeconds(4));
                return identity.Subject is null ? null : $"{path} answered ({identity.Subject.Path})";
            }
            catch (AskTimeoutException)
            {
                return null;
            }
        });

        Assert.Empty((await Task.WhenAll(probes)).OfType<string>());
    }

    private static Config AttackerConfig(bool ssl) => ConfigurationFactory.ParseString($$"""
        akka.actor.provider = remote
        akka.actor.serializers.aytrack = "AyTrack.Actors.Serialization.AyTrackSerializer, AyTrack.Actors"
        akka.actor.serialization-bindings { "AyTrack.Actors.Settings.ConfigCommands+ChangeSettings, AyTrack.Actors" = aytrack }
        akka.remote.dot-netty.tcp { hostname = 127.0.0.1, port = 0, enable-ssl = {{(ssl ? "true" : "false")}} }
        akka.loglevel = WARNING
        """);

    private static async Task<string> SelfAddressAsync(HttpClient http) =>
        (await http.GetFromJsonAsync<ClusterView>("/api/cluster", AyTrack.Cli.AdminClient.Json))!.Members.Single(m => m.Self).Address;
}
