using AyTrack.Cli;
using AyTrack.Integration.Tests.Support;
using AyTrack.Loopback;
using Xunit;

namespace AyTrack.Integration.Tests;

/// <summary>The aytrack CLI against a running node, as an operator types it.</summary>
public sealed class CliTests
{
    private static async Task<(int Exit, string Out, string Err)> RunAsync(TestNode node, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var exit = await AyTrackCli.RunAsync([.. args, "--url", node.AdminUrl.ToString(), "--token", node.Token], output, error);
        return (exit, output.ToString(), error.ToString());
    }

    [Fact]
    public async Task Settings_set_changes_live_values_show_says_where_they_came_from_and_history_names_the_cli()
    {
        await using var world = LoopbackWorld.Create();
        await using var node = await TestNode.StartAsync(world, "--AyTrack:Settings:Timing:Threads=4");

        var set = await RunAsync(node, "settings", "set", "timing.threads=6", "relay.host=smtp.relay.test", "relay.tls=StartTls",
            "timing.schedule.windows=[{\"days\":[\"Mon\",\"Fri\"],\"start\":\"22:00\",\"end\":\"06:00\"}]");
        var show = await RunAsync(node, "settings", "show");
        var history = await RunAsync(node, "settings", "history");

        Assert.Equal(0, set.Exit);
        Assert.Contains("timing.threads = 6", set.Out);
        Assert.Contains("relay.tls = StartTls", set.Out);
        Assert.Matches(@"timing\.threads\s+6\s+api \(aytrack-cli", show.Out);
        Assert.Matches(@"relay\.port\s+25\s+default", show.Out);
        Assert.Contains("22:00", show.Out);
        Assert.Contains("aytrack-cli", history.Out);
        Assert.Contains("timing.threads", history.Out);
    }

    [Fact]
    public async Task Dkim_add_prints_the_record_to_publish_dns_repeats_it_and_a_rollover_activates_the_new_key()
    {
        await using var world = LoopbackWorld.Create();
        await using var node = await TestNode.StartAsync(world);

        var add = await RunAsync(node, "dkim", "add", "example.test", "--selector", "s2026");
        Assert.Equal(0, add.Exit);
        Assert.Contains("example.test now signs with s2026 (rsa)", add.Out);
        Assert.Contains("s2026._domainkey.example.test. IN TXT \"v=DKIM1; k=rsa; p=MII", add.Out);

        var next = await RunAsync(node, "dkim", "add", "example.test", "--selector", "s2027", "--algorithm", "ed25519");
        Assert.Contains("key s2027 (ed25519) added, inactive", next.Out);
        Assert.Equal(0, (await RunAsync(node, "dkim", "activate", "example.test", "--selector", "s2027")).Exit);
        var rollover = await RunAsync(node, "dkim", "add", "example.test", "--selector", "s2028");
        Assert.Contains("added, inactive", rollover.Out);
        Assert.Contains("aytrack dkim activate example.test --selector s2028", rollover.Out);

        var dns = await RunAsync(node, "dkim", "dns", "example.test");
        Assert.Equal(3, dns.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.Contains("s2027._domainkey.example.test. IN TXT \"v=DKIM1; k=ed25519; p=", dns.Out);

        Assert.Equal(0, (await RunAsync(node, "dkim", "activate", "example.test", "--selector", "s2028")).Exit);
        Assert.Equal(0, (await RunAsync(node, "dkim", "remove", "example.test", "--selector", "s2026")).Exit);
        var list = await RunAsync(node, "dkim", "list");
        Assert.Matches(@"example\.test\s+s2027\s+ed25519\s+signing", list.Out);
        Assert.Matches(@"example\.test\s+s2028\s+rsa\s+signing", list.Out);
        Assert.DoesNotContain("s2026", list.Out);

        var bad = await RunAsync(node, "dkim", "add", "example.test", "--selector", "bad_one");
        Assert.Equal(1, bad.Exit);
        Assert.Contains("selector", bad.Err);
        var none = await RunAsync(node, "dkim", "dns", "other.test");
        Assert.Equal(1, none.Exit);
        Assert.Contains("other.test has no DKIM key", none.Err);
    }

    [Fact]
    public async Task An_invalid_value_prints_the_reason_by_key_and_exits_non_zero()
    {
        await using var world = LoopbackWorld.Create();
        await using var node = await TestNode.StartAsync(world);

        var result = await RunAsync(node, "settings", "set", "timing.threads=0", "relay.port=http");

        Assert.Equal(1, result.Exit);
        Assert.Contains("timing.threads: must be between 1 and 500", result.Err);
        Assert.Contains("relay.port: must be between 1 and 65535", result.Err);
    }

    [Fact]
    public async Task Threads_resize_and_list_show_the_live_routee_count()
    {
        await using var world = LoopbackWorld.Create();
        await using var node = await TestNode.StartAsync(world, "--AyTrack:Settings:Timing:Threads=2");

        var resize = await RunAsync(node, "threads", "resize", "5");
        Assert.Equal(0, resize.Exit);
        string listed;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        do
        {
            listed = (await RunAsync(node, "threads")).Out;
            await Task.Delay(50, cts.Token);
        }
        while (!System.Text.RegularExpressions.Regex.IsMatch(listed, @"akka\.ssl\.tcp://aytrack@\S+\s+5\s+5\s+-"));

        var json = await RunAsync(node, "threads", "--json");
        Assert.Contains("\"routees\":5", json.Out);
    }

    [Fact]
    public async Task Cluster_actor_and_queue_palettes_print_tables()
    {
        await using var world = LoopbackWorld.Create();
        await using var node = await TestNode.StartAsync(world);

        var cluster = await RunAsync(node, "cluster", "show");
        var actors = await RunAsync(node, "actor", "hierarchy");
        var queues = await RunAsync(node, "queue", "show");

        Assert.Contains("(this node)", cluster.Out);
        Assert.Contains(" Up ", cluster.Out);
        Assert.Contains("smtp-workers", actors.Out);
        Assert.Contains("settings-agent", actors.Out);
        Assert.StartsWith("0 recipient(s) accepted", queues.Out);
    }

    [Fact]
    public async Task Health_prints_the_status_and_each_component()
    {
        await using var world = LoopbackWorld.Create();
        await using var node = await TestNode.StartAsync(world);

        var health = await RunAsync(node, "health");
        var json = await RunAsync(node, "health", "--json");

        Assert.Equal(0, health.Exit);
        Assert.StartsWith("status ok", health.Out);
        foreach (var component in new[] { "listener", "relay", "storage", "settings", "cluster-transport" })
        {
            Assert.Matches($@"(?m)^{component}\s+ok\b", health.Out);
        }

        Assert.Contains("\"components\":", json.Out);
    }

    [Fact]
    public async Task A_node_that_is_not_running_is_one_line_not_a_stack_trace()
    {
        var output = new StringWriter();
        var error = new StringWriter();

        var exit = await AyTrackCli.RunAsync(["threads", "--url", "http://127.0.0.1:1", "--token", "x"], output, error);

        Assert.Equal(2, exit);
        Assert.StartsWith("No AyTrack node answers at http://127.0.0.1:1/", error.ToString());
        Assert.Single(error.ToString().Trim().Split('\n'));
    }

    [Fact]
    public async Task A_wrong_token_says_how_to_give_the_right_one()
    {
        await using var world = LoopbackWorld.Create();
        await using var node = await TestNode.StartAsync(world);
        var output = new StringWriter();
        var error = new StringWriter();

        var exit = await AyTrackCli.RunAsync(["settings", "show", "--url", node.AdminUrl.ToString(), "--token", "wrong"], output, error);

        Assert.Equal(2, exit);
        Assert.Contains("refused the token", error.ToString());
    }

    [Fact]
    public void The_aytrack_tool_carries_no_actors_storage_or_servers()
    {
        // The tool package holds what the CLI's deps.json lists (built next to this test's own build, in the same
        // configuration): every package and project it depends on, used or not.
        var configuration = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Name;
        var depsFile = Path.Combine(Repository.Root, "src", "AyTrack.Cli", "bin", configuration, "net10.0", "aytrack.deps.json");
        using var deps = System.Text.Json.JsonDocument.Parse(File.ReadAllText(depsFile));
        var libraries = deps.RootElement.GetProperty("libraries").EnumerateObject().Select(l => l.Name.Split('/')[0]).ToList();

        Assert.Contains("AyTrack.Contracts", libraries);
        Assert.DoesNotContain(libraries, name => name.StartsWith("Akka", StringComparison.Ordinal) || name.StartsWith("AyTrack.", StringComparison.Ordinal)
            && name != "AyTrack.Contracts" || name is "Npgsql" or "Microsoft.Data.Sqlite" or "SmtpServer" or "ARSoft.Tools.Net" or "MailKit");
    }
}
