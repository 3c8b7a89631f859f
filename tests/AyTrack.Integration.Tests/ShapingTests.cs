using System.Net;
using System.Net.Http.Json;
using AyTrack.Contracts;
using AyTrack.Integration.Tests.Support;
using AyTrack.Loopback;
using SmtpServer.Protocol;
using Xunit;

namespace AyTrack.Integration.Tests;

/// <summary>
/// Traffic shaping per destination site, end to end in the loopback world: the site's connection limit across its
/// domains, sessions reused between batches up to messagesPerConnection, an automation rule that suspends a site on
/// 421 and lets it go by itself, egress sources per pool, the operator's view and commands, and bad rules files.
/// </summary>
public sealed class ShapingTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Two_hundred_domains_on_one_site_share_its_five_connections_and_sessions_carry_several_batches()
    {
        await using var world = LoopbackWorld.Create();
        var sink = world.AddSink("mx.shared.test");
        var domains = Enumerable.Range(1, 200).Select(i => $"d{i}.test").ToList();
        foreach (var domain in domains)
        {
            world.Dns.AddMx(domain, 10, "mx.shared.test");
        }

        var rules = WriteRules("""
            entries:
              - name: shared
                match: { mxSuffix: [shared.test] }
                connectionLimit: 5
                messagesPerConnection: 10
                idleConnectionTimeout: 30s
            """);
        // Threads well above the site's limit: only the site limiter can hold the sessions to five.
        await using var node = await TestNode.StartAsync(world, $"--AyTrack:Delivery:ShapingPath={rules}", "--AyTrack:Settings:Timing:Threads=40");

        foreach (var chunk in domains.Chunk(50))
        {
            await node.SendAsync(TestNode.NewMessage("app@sender.test", chunk.Select(d => $"user@{d}"), "to a shared site"));
        }

        var received = await sink.WaitForAsync(200, Patience);
        Assert.Equal(domains.Select(d => $"user@{d}").Order(), received.SelectMany(r => r.To).Order());
        Assert.InRange(sink.MaxConcurrentSessions, 1, 5);
        var perSession = received.GroupBy(r => r.SessionId).Select(g => g.Count()).ToList();
        Assert.All(perSession, count => Assert.InRange(count, 1, 10));
        // Each domain has one message, so a session that carried more than one was kept open for another batch.
        Assert.Contains(perSession, count => count > 1);
        Assert.True(sink.SessionCount < 200, $"{sink.SessionCount} sessions for 200 single-message batches: none was reused");

        var sites = (await node.Http.GetFromJsonAsync<SitesView>("/api/sites"))!;
        var site = Assert.Single(sites.Sites, s => s.Site == "mx.shared.test");
        Assert.Equal(5, site.Limit);
        Assert.Contains("shared", site.LimitReason);
        Assert.InRange(site.Open, 0, 5);
        Assert.NotEmpty(site.Domains);
    }

    [Fact]
    public async Task An_idle_session_holds_its_sites_slot_but_not_a_thread()
    {
        // One thread: if the session kept open for slow.test's next batch held it, fast.test would wait 10 minutes.
        await using var world = LoopbackWorld.Create();
        var first = world.AddDomain("first.test");
        var second = world.AddDomain("second.test");
        var rules = WriteRules("""
            entries:
              - name: keep-long
                match: default
                idleConnectionTimeout: 10m
            """);
        await using var node = await TestNode.StartAsync(world, $"--AyTrack:Delivery:ShapingPath={rules}", "--AyTrack:Settings:Timing:Threads=1");

        await node.SendAsync(TestNode.NewMessage("app@sender.test", ["a@first.test"], "first site"));
        Assert.Single(await first.WaitForAsync(1, Patience));
        await Eventually.UntilAsync(async () =>
            (await node.Http.GetFromJsonAsync<SiteView>("/api/sites/mx.first.test"))!.Idle == 1, Patience);

        await node.SendAsync(TestNode.NewMessage("app@sender.test", ["b@second.test"], "second site"));
        Assert.Single(await second.WaitForAsync(1, Patience));
        Assert.Equal(1, first.OpenSessions);
        var site = (await node.Http.GetFromJsonAsync<SiteView>("/api/sites/mx.first.test"))!;
        Assert.Equal((1, 1), (site.Open, site.Idle));

        // The next message to the first site goes over the session that waited.
        await node.SendAsync(TestNode.NewMessage("app@sender.test", ["c@first.test"], "first site again"));
        var both = await first.WaitForAsync(2, Patience);
        Assert.Single(both.Select(m => m.SessionId).Distinct());
    }

    [Fact]
    public async Task In_relay_mode_the_external_server_is_one_site_limited_by_relay_maxConnections()
    {
        await using var world = LoopbackWorld.Create();
        var relay = world.AddRelay("relay.site.test", new SinkOptions());
        await using var node = await TestNode.StartAsync(world, "--AyTrack:Settings:Timing:Threads=20");
        await node.ConfigureAsync($$"""
            { "mode": "RelayAll", "relay": { "host": "relay.site.test", "port": {{relay.Endpoint.Port}}, "tls": "None", "maxConnections": 2 } }
            """);

        var recipients = Enumerable.Range(1, 30).Select(i => $"user@r{i}.test").ToList();
        await node.SendAsync(TestNode.NewMessage("app@sender.test", recipients, "through the relay"));

        var received = await relay.WaitForAsync(30, Patience);
        Assert.Equal(recipients.Order(), received.SelectMany(r => r.To).Order());
        Assert.InRange(relay.MaxConcurrentSessions, 1, 2);
        var site = (await node.Http.GetFromJsonAsync<SiteView>($"/api/sites/{Uri.EscapeDataString($"relay:relay.site.test:{relay.Endpoint.Port}")}"))!;
        Assert.Equal(2, site.Limit);
        Assert.True(site.Domains.Count > 1);
        var line = await DeliveryLogReader.WaitForAsync(node.DataDir, "user@r1.test", Patience, "delivered");
        Assert.Equal($"relay:relay.site.test:{relay.Endpoint.Port}", line.GetProperty("site").GetString());
    }

    [Fact]
    public async Task A_421_suspends_the_site_by_rule_and_the_suspension_lifts_by_itself()
    {
        await using var world = LoopbackWorld.Create();
        var sink = world.AddSink("mx.busy.test");
        world.Dns.AddMx("busy.test", 10, "mx.busy.test");
        var refusals = 0;
        sink.RecipientReply = _ => Interlocked.Increment(ref refusals) == 1
            ? new SmtpResponse(SmtpReplyCode.ServiceUnavailable, "4.7.0 Try again later")
            : null;
        var rules = WriteRules("""
            entries:
              - name: busy
                match: { domain: busy.test }
                automation:
                  - name: busy-says-later
                    categories: [RateLimited]
                    action: suspend
                    for: 6s
            """);
        await using var node = await TestNode.StartAsync(world, $"--AyTrack:Delivery:ShapingPath={rules}",
            "--AyTrack:Delivery:MinBackoff=00:00:01", "--AyTrack:Delivery:MaxBackoff=00:00:01");

        await node.SendAsync(TestNode.NewMessage("app@sender.test", ["first@busy.test"], "throttled"));

        var deferred = await DeliveryLogReader.WaitForAsync(node.DataDir, "first@busy.test", Patience, "deferred");
        Assert.Equal("RateLimited", deferred.GetProperty("category").GetString());
        var suspended = await SiteLineAsync(node, "suspended");
        Assert.Equal("mx.busy.test", suspended.GetProperty("site").GetString());
        Assert.Contains("busy-says-later", suspended.GetProperty("reply").GetString());
        var until = suspended.GetProperty("until").GetDateTimeOffset();

        var site = (await node.Http.GetFromJsonAsync<SiteView>("/api/sites/mx.busy.test"))!;
        Assert.Equal(until, site.SuspendedUntil);
        Assert.Contains("aytrack_sites_restricted{kind=\"suspended\"} 1", await node.Http.GetStringAsync("/metrics"));

        // The retry is due after a second, but nothing is sent to the site before its suspension ends.
        Assert.Single(await sink.WaitForAsync(1, Patience));
        var delivered = await DeliveryLogReader.WaitForAsync(node.DataDir, "first@busy.test", Patience, "delivered");
        Assert.True(delivered.GetProperty("time").GetDateTimeOffset() >= until, "delivered while the site was suspended");
        var resumed = await SiteLineAsync(node, "resumed");
        Assert.Contains("suspension over", resumed.GetProperty("reply").GetString());
        Assert.Null((await node.Http.GetFromJsonAsync<SiteView>("/api/sites/mx.busy.test"))!.SuspendedUntil);
    }

    [Fact]
    public async Task Each_pool_sends_from_its_own_source_address_and_greets_with_its_name()
    {
        await using var world = LoopbackWorld.Create();
        var sink = world.AddSink("mx.pools.test");
        world.Dns.AddMx("one.test", 10, "mx.pools.test").AddMx("two.test", 10, "mx.pools.test");
        var rules = WriteRules("""
            entries:
              - name: one
                match: { domain: one.test }
                pool: first
              - name: two
                match: { domain: two.test }
                pool: second
              - name: newsletters
                match: { senderDomain: news.test }
                pool: second
            """);
        await using var node = await TestNode.StartAsync(world, $"--AyTrack:Delivery:ShapingPath={rules}",
            "--AyTrack:Egress:Sources:0:Name=a", "--AyTrack:Egress:Sources:0:BindAddress=127.0.0.2", "--AyTrack:Egress:Sources:0:EhloName=a.out.test",
            "--AyTrack:Egress:Sources:1:Name=b", "--AyTrack:Egress:Sources:1:BindAddress=127.0.0.3", "--AyTrack:Egress:Sources:1:EhloName=b.out.test",
            "--AyTrack:Egress:Pools:0:Name=first", "--AyTrack:Egress:Pools:0:Sources:0=a",
            "--AyTrack:Egress:Pools:1:Name=second", "--AyTrack:Egress:Pools:1:Sources:0:Name=b", "--AyTrack:Egress:Pools:1:Sources:0:Weight=3");

        await node.SendAsync(TestNode.NewMessage("app@sender.test", ["x@one.test", "y@two.test"], "two pools"));
        // A sending domain's pool wins over the destination's: this one leaves from the second pool though one.test is in the first.
        await node.SendAsync(TestNode.NewMessage("letters@news.test", ["w@one.test"], "a newsletter"));

        var received = await sink.WaitForAsync(3, Patience);
        var one = Assert.Single(received, r => r.To.Contains("x@one.test"));
        var two = Assert.Single(received, r => r.To.Contains("y@two.test"));
        var newsletter = Assert.Single(received, r => r.To.Contains("w@one.test"));
        Assert.Equal(IPAddress.Parse("127.0.0.2"), one.RemoteAddress);
        Assert.Equal("a.out.test", one.Ehlo);
        Assert.Equal(IPAddress.Parse("127.0.0.3"), two.RemoteAddress);
        Assert.Equal("b.out.test", two.Ehlo);
        Assert.Equal(IPAddress.Parse("127.0.0.3"), newsletter.RemoteAddress);
        Assert.Equal("b.out.test", newsletter.Ehlo);
    }

    [Fact]
    public async Task An_operator_suspends_and_resumes_a_site_from_the_CLI_and_a_suspension_survives_a_restart()
    {
        await using var world = LoopbackWorld.Create();
        var sink = world.AddSink("mx.held.test");
        world.Dns.AddMx("held.test", 10, "mx.held.test");
        var dataDir = Path.Combine(Path.GetTempPath(), "aytrack-tests", Guid.NewGuid().ToString("N"));
        const string Site = "mx.held.test";
        try
        {
            await using (var node = await TestNode.StartInAsync(world, dataDir))
            {
                node.KeepDataDir = true;
                var suspend = await RunAsync(node, "site", "suspend", Site, "--for", "2h", "--reason", "provider asked us to pause");
                Assert.Equal(0, suspend.Exit);
                Assert.Contains($"{Site} suspended until", suspend.Out);
                var bad = await RunAsync(node, "site", "suspend", Site, "--for", "forever");
                Assert.NotEqual(0, bad.Exit);
                Assert.Contains("for", bad.Err);
            }

            await using (var restarted = await TestNode.StartInAsync(world, dataDir))
            {
                restarted.KeepDataDir = true;
                await restarted.SendAsync(TestNode.NewMessage("app@sender.test", ["z@held.test"], "waits for the site"));
                var show = await RunAsync(restarted, "site", "show", Site);
                Assert.Equal(0, show.Exit);
                Assert.Contains("provider asked us to pause", show.Out);
                Assert.Contains("held.test", show.Out);
                Assert.Empty(sink.Received);

                var list = await RunAsync(restarted, "site", "list");
                Assert.Contains(Site, list.Out);

                var resume = await RunAsync(restarted, "site", "resume", Site);
                Assert.Equal(0, resume.Exit);
                Assert.Single(await sink.WaitForAsync(1, Patience));
                var again = await RunAsync(restarted, "site", "resume", Site);
                Assert.NotEqual(0, again.Exit);

                var lines = DeliveryLogReader.Read(dataDir).Where(l => l.GetProperty("outcome").GetString() == "site").ToList();
                Assert.Contains(lines, l => l.GetProperty("reply").GetString()!.StartsWith("resumed", StringComparison.Ordinal));
            }
        }
        finally
        {
            Directory.Delete(dataDir, recursive: true);
        }
    }

    [Fact]
    public async Task A_malformed_rules_file_stops_the_node_with_its_line_and_a_bad_reload_keeps_the_rules_in_force()
    {
        await using var world = LoopbackWorld.Create();
        var broken = WriteRules("""
            entries:
              - name: fine
                match: default
              - name: wrong
                match: default
                connectionLimit: lots
            """);
        var refused = await Assert.ThrowsAnyAsync<Exception>(() => TestNode.StartAsync(world, $"--AyTrack:Delivery:ShapingPath={broken}"));
        Assert.Contains("AyTrack:Delivery:ShapingPath", refused.Message);
        Assert.Contains("line 6", refused.Message);
        Assert.Contains("connectionLimit", refused.Message);

        var rules = WriteRules("""
            entries:
              - name: fine
                match: default
                connectionLimit: 3
            """);
        await using var node = await TestNode.StartAsync(world, $"--AyTrack:Delivery:ShapingPath={rules}");
        Assert.Equal(0, (await RunAsync(node, "shaping", "reload")).Exit);

        await File.WriteAllTextAsync(rules, "entries:\n  - name: fine\n    match: nowhere\n");
        var reload = await RunAsync(node, "shaping", "reload");
        Assert.NotEqual(0, reload.Exit);
        Assert.Contains("line 3", reload.Err);
        var shaping = node.Services.GetService(typeof(AyTrack.Core.Shaping.LiveShaping)) as AyTrack.Core.Shaping.LiveShaping;
        Assert.Equal(3, shaping!.For("any.test", ["mx.any.test"]).ConnectionLimit);

        // A good file is taken up when it changes, without a command.
        await File.WriteAllTextAsync(rules, "entries:\n  - name: fine\n    match: default\n    connectionLimit: 7\n");
        await Eventually.UntilAsync(() => shaping.For("any.test", ["mx.any.test"]).ConnectionLimit == 7, Patience);
    }

    [Fact]
    public async Task Site_requests_out_of_bounds_are_refused_naming_the_field_and_made_up_sites_cannot_grow_the_state_without_end()
    {
        await using var world = LoopbackWorld.Create();
        await using var node = await TestNode.StartAsync(world);

        async Task<(HttpStatusCode Status, string Body)> PostAsync(string path, object body)
        {
            var response = await node.Http.PostAsJsonAsync(path, body);
            return (response.StatusCode, await response.Content.ReadAsStringAsync());
        }

        var badSite = await PostAsync($"/api/sites/{Uri.EscapeDataString("mx.example.test; rm -rf")}/suspend", new SiteSuspendRequest("1h", null));
        Assert.Equal((HttpStatusCode.BadRequest, true), (badSite.Status, badSite.Body.Contains("\"site\"")));
        var longSite = await PostAsync($"/api/sites/{new string('a', 2049)}/suspend", new SiteSuspendRequest("1h", null));
        Assert.Equal(HttpStatusCode.BadRequest, longSite.Status);
        var tooLong = await PostAsync("/api/sites/mx.example.test/suspend", new SiteSuspendRequest("31d", null));
        Assert.Equal((HttpStatusCode.BadRequest, true), (tooLong.Status, tooLong.Body.Contains("\"for\"")));
        var garbage = await PostAsync("/api/sites/mx.example.test/suspend", new SiteSuspendRequest("soon", null));
        Assert.Equal(HttpStatusCode.BadRequest, garbage.Status);
        var twoLines = await PostAsync("/api/sites/mx.example.test/suspend", new SiteSuspendRequest("1h", "first line\nforged line"));
        Assert.Equal((HttpStatusCode.BadRequest, true), (twoLines.Status, twoLines.Body.Contains("\"reason\"")));
        var essay = await PostAsync("/api/sites/mx.example.test/suspend", new SiteSuspendRequest("1h", new string('x', 201)));
        Assert.Equal(HttpStatusCode.BadRequest, essay.Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await node.Http.GetAsync("/api/sites?limit=0")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await node.Http.GetAsync("/api/sites?limit=5001")).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await PostAsync("/api/sites/mx.example.test/resume", new { })).Status);
        Assert.Empty((await node.Http.GetFromJsonAsync<SitesView>("/api/sites"))!.Sites);

        // A thousand made-up sites are taken; the next new one is refused, one already held can still be extended.
        for (var i = 0; i < AyTrack.Core.Shaping.SiteNames.MaxRestricted; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await PostAsync($"/api/sites/mx{i}.made-up.test/suspend", new SiteSuspendRequest("1h", null))).Status);
        }

        var oneMore = await PostAsync("/api/sites/mx.one-more.test/suspend", new SiteSuspendRequest("1h", null));
        Assert.Equal((HttpStatusCode.Conflict, true), (oneMore.Status, oneMore.Body.Contains("resume some first")));
        Assert.Equal(HttpStatusCode.OK, (await PostAsync("/api/sites/mx0.made-up.test/suspend", new SiteSuspendRequest("2h", null))).Status);
        Assert.Equal(1000, (await node.Http.GetFromJsonAsync<SitesView>("/api/sites?limit=5000"))!.Sites.Count);
    }

    private static async Task<System.Text.Json.JsonElement> SiteLineAsync(TestNode node, string what)
    {
        System.Text.Json.JsonElement found = default;
        await Eventually.UntilAsync(() =>
        {
            var line = DeliveryLogReader.Read(node.DataDir).LastOrDefault(l => l.GetProperty("outcome").GetString() == "site"
                && l.GetProperty("reply").GetString()!.StartsWith(what, StringComparison.Ordinal));
            found = line;
            return line.ValueKind != System.Text.Json.JsonValueKind.Undefined;
        }, Patience);
        return found;
    }

    private static string WriteRules(string yaml)
    {
        var path = Path.Combine(Path.GetTempPath(), "aytrack-tests", $"shaping-{Guid.NewGuid():N}.yaml");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, yaml);
        return path;
    }

    private static Task<(int Exit, string Out, string Err)> RunAsync(TestNode node, params string[] args) => node.CliAsync(string.Empty, args);
}
