using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using AyTrack.Integration.Tests.Support;
using AyTrack.Loopback;
using Xunit;

namespace AyTrack.Integration.Tests;

/// <summary>The settings, threads, cluster, actor and queue endpoints of the admin API.</summary>
public sealed class SettingsApiTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Settings_are_read_with_an_ETag_changed_by_merge_patch_and_audited()
    {
        await using var world = LoopbackWorld.Create();
        await using var node = await TestNode.StartAsync(world, "--AyTrack:Settings:Timing:RetryDays=2");

        var read = await node.Http.GetAsync("/api/settings");
        var etag = read.Headers.ETag!.Tag;
        var settings = await read.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(2, settings.GetProperty("timing").GetProperty("retryDays").GetDouble());

        var patched = await node.Http.SendAsync(Patch("""{ "timing": { "threads": 4, "maxLoadPerHour": 7200 } }""", etag));
        Assert.Equal(HttpStatusCode.OK, patched.StatusCode);
        Assert.NotEqual(etag, patched.Headers.ETag!.Tag);
        var after = await patched.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(4, after.GetProperty("timing").GetProperty("threads").GetInt32());
        Assert.Equal(2, after.GetProperty("timing").GetProperty("retryDays").GetDouble());

        // The stale ETag is refused and changes nothing.
        var stale = await node.Http.SendAsync(Patch("""{ "timing": { "threads": 9 } }""", etag));
        Assert.Equal(HttpStatusCode.PreconditionFailed, stale.StatusCode);

        var sources = await node.Http.GetFromJsonAsync<JsonElement>("/api/settings?include=sources");
        Assert.Equal("configuration", sources.GetProperty("sources").GetProperty("timing.retryDays").GetString());
        Assert.Equal("default", sources.GetProperty("sources").GetProperty("mode").GetString());
        Assert.StartsWith("api (", sources.GetProperty("sources").GetProperty("timing.threads").GetString());
        Assert.Equal(4, sources.GetProperty("settings").GetProperty("timing").GetProperty("threads").GetInt32());

        var history = await node.Http.GetFromJsonAsync<JsonElement>("/api/settings/history");
        var last = history.EnumerateArray().Last();
        Assert.Equal(2, last.GetProperty("version").GetInt64());
        Assert.Equal(["timing.maxLoadPerHour", "timing.threads"], last.GetProperty("changed").EnumerateArray().Select(e => e.GetString()).Order());
    }

    [Fact]
    public async Task Invalid_values_get_400_keyed_by_JSON_path_and_change_nothing()
    {
        await using var world = LoopbackWorld.Create();
        await using var node = await TestNode.StartAsync(world);
        var before = await node.Http.GetAsync("/api/settings");

        var response = await node.Http.SendAsync(Patch("""{ "timing": { "threads": 0, "schedule": { "timeZone": "Nowhere/Land" } }, "mode": "Teleport" }"""));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        var errors = problem.GetProperty("errors");
        Assert.Equal("must be between 1 and 500", errors.GetProperty("timing.threads")[0].GetString());
        Assert.True(errors.TryGetProperty("timing.schedule.timeZone", out _));
        Assert.True(errors.TryGetProperty("mode", out _));
        var after = await node.Http.GetAsync("/api/settings");
        Assert.Equal(before.Headers.ETag, after.Headers.ETag);

        var wrongType = await node.Http.SendAsync(new HttpRequestMessage(HttpMethod.Patch, "/api/settings")
        {
            Content = new StringContent("{}", Encoding.UTF8, "text/plain"),
        });
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, wrongType.StatusCode);
        var notJson = await node.Http.SendAsync(Patch("{ not json"));
        Assert.Equal(HttpStatusCode.BadRequest, notJson.StatusCode);
    }

    [Fact]
    public async Task The_relay_password_is_write_only_and_never_stored_or_logged_in_clear()
    {
        const string password = "Pa55-w0rd-that-must-not-leak";
        await using var world = LoopbackWorld.Create();
        var dataDir = Directory.CreateTempSubdirectory("aytrack-secret").FullName;
        await using (var node = await NodeProcess.StartAsync(dataDir, world.NodeArguments(dataDir)))
        {
            using var http = new HttpClient { BaseAddress = node.AdminUrl };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", File.ReadAllText(Path.Combine(dataDir, "admin.token")));

            var patched = await http.SendAsync(Patch($$"""{ "relay": { "host": "smtp.relay.test", "username": "me", "password": "{{password}}", "requiresAuth": true } }"""));
            var patchedText = await patched.Content.ReadAsStringAsync();
            var read = await http.GetStringAsync("/api/settings");
            var withSources = await http.GetStringAsync("/api/settings?include=sources");
            var history = await http.GetStringAsync("/api/settings/history");

            Assert.Equal(HttpStatusCode.OK, patched.StatusCode);
            Assert.Contains("\"passwordSet\":true", read);
            foreach (var text in new[] { patchedText, read, withSources, history })
            {
                Assert.DoesNotContain(password, text);
            }

            var readOnly = await http.SendAsync(Patch("""{ "relay": { "passwordSet": false } }"""));
            Assert.Equal(HttpStatusCode.BadRequest, readOnly.StatusCode);
            node.Terminate();
            await node.WaitForExitAsync(Patience);
        }

        // Journal, spool, logs, token and key files: nowhere in clear.
        var needle = Encoding.UTF8.GetBytes(password);
        foreach (var file in Directory.EnumerateFiles(dataDir, "*", SearchOption.AllDirectories))
        {
            var bytes = await File.ReadAllBytesAsync(file);
            Assert.True(bytes.AsSpan().IndexOf(needle) < 0, $"{Path.GetFileName(file)} contains the password in clear");
        }

        // Without the key the sealed password could never be opened again: the node refuses to start rather than
        // make a new key, and says which two files are at stake.
        var keyFile = Path.Combine(dataDir, "secrets.key");
        File.Move(keyFile, keyFile + ".away");
        var refused = Assert.Throws<InvalidOperationException>(() => AyTrack.Node.NodeHost.Build([.. world.NodeArguments(dataDir)]));
        Assert.Contains(keyFile + " is missing", refused.Message);
        Assert.Contains(Path.Combine(dataDir, "journal.db"), refused.Message);
        Assert.False(File.Exists(keyFile));
    }

    [Fact]
    public async Task Threads_resize_the_live_worker_pool_through_the_setting_and_per_node()
    {
        await using var world = LoopbackWorld.Create();
        await using var node = await TestNode.StartAsync(world, "--AyTrack:Settings:Timing:Threads=3");

        var initial = await WaitForThreadsAsync(node, t => t.GetProperty("routees").GetInt32() == 3);
        Assert.Equal(3, initial.GetProperty("setting").GetInt32());

        var up = await node.Http.PostAsJsonAsync("/api/threads", new { size = 7 });
        Assert.Equal(HttpStatusCode.Accepted, up.StatusCode);
        var grown = await WaitForThreadsAsync(node, t => t.GetProperty("routees").GetInt32() == 7);
        Assert.Equal(7, grown.GetProperty("setting").GetInt32());

        var self = grown.GetProperty("node").GetString();
        var overridden = await node.Http.PostAsJsonAsync("/api/threads", new { size = 2, node = self });
        Assert.Equal(HttpStatusCode.OK, overridden.StatusCode);
        var shrunk = await WaitForThreadsAsync(node, t => t.GetProperty("routees").GetInt32() == 2);
        Assert.Equal(2, shrunk.GetProperty("override").GetInt32());
        Assert.Equal(7, shrunk.GetProperty("setting").GetInt32());

        // The next settings change clears the override.
        await node.Http.SendAsync(Patch("""{ "timing": { "threads": 5 } }"""));
        var reset = await WaitForThreadsAsync(node, t => t.GetProperty("routees").GetInt32() == 5);
        Assert.Equal(JsonValueKind.Null, reset.GetProperty("override").ValueKind);

        var invalid = await node.Http.PostAsJsonAsync("/api/threads", new { size = 501 });
        Assert.Equal(HttpStatusCode.BadRequest, invalid.StatusCode);
        var unknownNode = await node.Http.PostAsJsonAsync("/api/threads", new { size = 3, node = "akka.ssl.tcp://aytrack@127.0.0.1:1" });
        Assert.Equal(HttpStatusCode.BadRequest, unknownNode.StatusCode);
    }

    [Fact]
    public async Task Cluster_actors_and_queues_describe_the_running_node()
    {
        await using var world = LoopbackWorld.Create();
        world.AddDownHost("mx.later.test");
        world.Dns.AddMx("later.test", 10, "mx.later.test");
        await using var node = await TestNode.StartAsync(world);
        await node.SendAsync(TestNode.NewMessage("app@sender.test", ["a@later.test", "b@later.test"], "queued"));
        await DeliveryLogReader.WaitForAsync(node.DataDir, "b@later.test", Patience, outcome: "deferred");

        var cluster = await node.Http.GetFromJsonAsync<JsonElement>("/api/cluster");
        var member = cluster.GetProperty("members").EnumerateArray().Single();
        Assert.Equal("Up", member.GetProperty("status").GetString());
        Assert.True(member.GetProperty("self").GetBoolean());
        Assert.Contains("delivery", member.GetProperty("roles").EnumerateArray().Select(r => r.GetString()));
        Assert.True(member.GetProperty("shards").GetInt32() >= 1);

        var actors = await node.Http.GetStringAsync("/api/actors");
        foreach (var path in new[] { "/user/smtp-workers", "/user/outbox-dispatcher", "/user/settings-agent", "/user/bouncer", "/system/sharding/domain" })
        {
            Assert.Contains($"\"{path}\"", actors);
        }

        var queues = await node.Http.GetFromJsonAsync<JsonElement>("/api/queues");
        var later = queues.GetProperty("domains").EnumerateArray().Single();
        Assert.Equal("later.test", later.GetProperty("domain").GetString());
        Assert.Equal(2, later.GetProperty("deferred").GetInt32());
        Assert.StartsWith("451 4.4.1", later.GetProperty("lastError").GetString());
        Assert.NotEqual(JsonValueKind.Null, later.GetProperty("nextAttempt").ValueKind);

        var one = await node.Http.GetFromJsonAsync<JsonElement>("/api/queues/LATER.test");
        Assert.Equal(2, one.GetProperty("deferred").GetInt32());
        Assert.Equal(HttpStatusCode.BadRequest, (await node.Http.GetAsync("/api/queues/not_a_domain")).StatusCode);
    }

    private static async Task<JsonElement> WaitForThreadsAsync(TestNode node, Func<JsonElement, bool> condition)
    {
        using var cts = new CancellationTokenSource(Patience);
        while (true)
        {
            var nodes = await node.Http.GetFromJsonAsync<JsonElement>("/api/threads", cts.Token);
            var self = nodes.EnumerateArray().Single();
            if (condition(self))
            {
                return self;
            }

            await Task.Delay(50, cts.Token);
        }
    }

    private static HttpRequestMessage Patch(string json, string? ifMatch = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Patch, "/api/settings")
        {
            Content = new StringContent(json, Encoding.UTF8, "application/merge-patch+json"),
        };
        if (ifMatch is not null)
        {
            request.Headers.IfMatch.Add(new EntityTagHeaderValue(ifMatch));
        }

        return request;
    }
}
