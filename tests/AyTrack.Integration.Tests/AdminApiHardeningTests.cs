using System.Net;
using System.Net.Http.Headers;
using System.Text;
using AyTrack.Cli;
using AyTrack.Integration.Tests.Support;
using AyTrack.Loopback;
using AyTrack.Node.Admin;
using Xunit;

namespace AyTrack.Integration.Tests;

/// <summary>
/// The admin API as an attacker and an unlucky operator try it: tokens that must not count, enums and bodies that must
/// not slip through, preconditions that must hold, labels and values that must not reach a terminal raw.
/// </summary>
public sealed class AdminApiHardeningTests
{
    [Fact]
    public void An_empty_or_short_token_file_or_configured_token_stops_the_start_naming_it()
    {
        var dir = Directory.CreateTempSubdirectory("aytrack-token").FullName;
        var file = Path.Combine(dir, "admin.token");
        File.WriteAllText(file, string.Empty);

        var empty = Assert.Throws<InvalidOperationException>(() => AdminToken.Load(string.Empty, dir));
        File.WriteAllText(file, "short");
        var shortFile = Assert.Throws<InvalidOperationException>(() => AdminToken.Load(string.Empty, dir));
        var shortKey = Assert.Throws<InvalidOperationException>(() => AdminToken.Load("only-twenty-characters", dir));

        Assert.Contains(file, empty.Message);
        Assert.Contains(file, shortFile.Message);
        Assert.Contains("AyTrack:Admin:Token", shortKey.Message);
    }

    [Fact]
    public async Task Connections_over_the_admin_limit_are_closed_and_the_port_serves_again_when_they_go()
    {
        await using var world = LoopbackWorld.Create();
        await using var node = await TestNode.StartAsync(world, "--AyTrack:Admin:MaxConnections=3");
        var clients = new List<System.Net.Sockets.TcpClient>();
        try
        {
            // Three connections that start a request and never finish it hold every slot, and a fourth is refused.
            // Kestrel counts a connection, and frees the slot of one that closed (such as the start's health probe),
            // beside this test: under load the probe's slot can still be taken when the third arrives, and that
            // third is then the one refused. So each round replaces any held connection the server has closed, and
            // the fourth is tried only while all three are open.
            await Eventually.UntilAsync(async () =>
            {
                clients.RemoveAll(c =>
                {
                    var closed = IsClosedByServer(c);
                    if (closed)
                    {
                        c.Dispose();
                    }

                    return closed;
                });
                while (clients.Count < 3)
                {
                    var client = new System.Net.Sockets.TcpClient();
                    await client.ConnectAsync(node.AdminUrl.Host, node.AdminUrl.Port);
                    await client.GetStream().WriteAsync("GET /healthz HTTP/1.1\r\nHost: x\r\n"u8.ToArray());
                    clients.Add(client);
                }

                using var fresh = new HttpClient { BaseAddress = node.AdminUrl, Timeout = TimeSpan.FromSeconds(5) };
                try
                {
                    await fresh.GetAsync("/healthz");
                    return false;
                }
                catch (HttpRequestException)
                {
                    return clients.TrueForAll(c => !IsClosedByServer(c));
                }
            }, TimeSpan.FromSeconds(30));
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }

        using var again = new HttpClient { BaseAddress = node.AdminUrl };
        await Eventually.UntilAsync(async () =>
        {
            try
            {
                return (await again.GetAsync("/healthz")).IsSuccessStatusCode;
            }
            catch (HttpRequestException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(30));
    }

    [Fact]
    public void An_actor_that_does_not_answer_in_time_is_503_not_500()
    {
        Assert.Equal(503, AdminErrors.StatusFor(new Akka.Actor.AskTimeoutException("no answer")));
        Assert.Equal(503, AdminErrors.StatusFor(new TimeoutException()));
        Assert.Equal(413, AdminErrors.StatusFor(new Microsoft.AspNetCore.Http.BadHttpRequestException("too big", 413)));
        Assert.Equal(500, AdminErrors.StatusFor(new InvalidOperationException()));
    }

    [Fact]
    public async Task Only_Bearer_in_any_case_spaces_and_exactly_the_token_authenticate()
    {
        await using var world = LoopbackWorld.Create();
        await using var node = await TestNode.StartAsync(world);

        Assert.Equal(HttpStatusCode.OK, await GetWithAuthorization(node, $"bearer   {node.Token}"));
        Assert.Equal(HttpStatusCode.OK, await GetWithAuthorization(node, $"BEARER {node.Token}"));
        Assert.Equal(HttpStatusCode.Unauthorized, await GetWithAuthorization(node, "Bearer \v"));
        // (Trailing spaces are not part of a header value at all, RFC 9110 §5.5; a vertical tab is.)
        Assert.Equal(HttpStatusCode.Unauthorized, await GetWithAuthorization(node, $"Bearer {node.Token}\v"));
        Assert.Equal(HttpStatusCode.Unauthorized, await GetWithAuthorization(node, $"Bearer \v{node.Token}"));
        Assert.Equal(HttpStatusCode.Unauthorized, await GetWithAuthorization(node, $"Bearer\t{node.Token}"));
        Assert.Equal(HttpStatusCode.Unauthorized, await GetWithAuthorization(node, $"Basic {node.Token}"));
        Assert.Equal(HttpStatusCode.Unauthorized, await GetWithAuthorization(node, node.Token));
    }

    [Fact]
    public async Task More_than_ten_failures_in_a_minute_lock_the_address_out_with_429()
    {
        await using var world = LoopbackWorld.Create();
        await using var node = await TestNode.StartAsync(world);

        for (var i = 0; i < AdminAuthGuard.MaxFailures; i++)
        {
            Assert.Equal(HttpStatusCode.Unauthorized, await GetWithAuthorization(node, $"Bearer wrong-{i}"));
        }

        Assert.Equal(HttpStatusCode.Unauthorized, await GetWithAuthorization(node, "Bearer one-too-many"));
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/settings");
        using var http = new HttpClient { BaseAddress = node.AdminUrl };
        request.Headers.TryAddWithoutValidation("Authorization", $"Bearer {node.Token}");
        var locked = await http.SendAsync(request);

        // Even the right token waits: a guesser cannot tell a hit from the lockout.
        Assert.Equal(HttpStatusCode.TooManyRequests, locked.StatusCode);
        Assert.InRange(locked.Headers.RetryAfter!.Delta!.Value.TotalSeconds, 1, 60);
        Assert.Equal(HttpStatusCode.OK, (await new HttpClient { BaseAddress = node.AdminUrl }.GetAsync("/healthz")).StatusCode);
    }

    [Fact]
    public void Failures_are_logged_once_per_address_every_ten_seconds_with_a_count_and_a_lockout_lasts_a_minute()
    {
        var time = new ManualTime(DateTimeOffset.UtcNow);
        var guard = new AdminAuthGuard(time);
        var attacker = IPAddress.Parse("127.0.0.9");
        var other = IPAddress.Parse("127.0.0.10");

        var logged = Enumerable.Range(0, 5).Select(_ => guard.Failed(attacker)).ToList();
        time.Advance(AdminAuthGuard.LogEvery);
        var afterPause = guard.Failed(attacker);

        Assert.Equal([1, 0, 0, 0, 0], logged);
        Assert.Equal(5, afterPause);
        Assert.Equal(1, guard.Failed(other));
        Assert.False(guard.IsBlocked(attacker, out _));
        for (var i = 0; i < AdminAuthGuard.MaxFailures; i++)
        {
            guard.Failed(attacker);
        }

        Assert.True(guard.IsBlocked(attacker, out var retryAfter));
        Assert.False(guard.IsBlocked(other, out _));
        time.Advance(retryAfter);
        Assert.False(guard.IsBlocked(attacker, out _));
    }

    [Fact]
    public async Task Enums_are_names_only_in_json_and_in_urls()
    {
        await using var world = LoopbackWorld.Create();
        await using var node = await TestNode.StartAsync(world);

        var combined = await Patch(node, """{"mode":"DirectThenRelay, RelayAll","relay":{"host":"relay.test"}}""");
        var number = await Patch(node, """{"relay":{"tls":"1"}}""");
        var action = await node.Http.PostAsync("/api/queues/d.test/hold,release", new StringContent("{}", Encoding.UTF8, "application/json"));
        var numericAction = await node.Http.PostAsync("/api/queues/d.test/3", new StringContent("{}", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, combined.StatusCode);
        Assert.Contains("\"mode\"", await combined.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.BadRequest, number.StatusCode);
        Assert.Contains("\"relay.tls\"", await number.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.BadRequest, action.StatusCode);
        Assert.Contains("hold,release", await action.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.BadRequest, numericAction.StatusCode);
        // The settings still read (nothing undefined was stored).
        Assert.Equal(HttpStatusCode.OK, (await node.Http.GetAsync("/api/settings")).StatusCode);
    }

    [Fact]
    public async Task A_duplicate_key_is_a_400_naming_it_and_an_oversized_body_a_413()
    {
        await using var world = LoopbackWorld.Create();
        await using var node = await TestNode.StartAsync(world, "--AyTrack:Listener:MaxMessageSize=10000");

        var duplicate = await Patch(node, """{"timing":{"threads":4,"threads":5}}""");
        // A client sending a large body asks first (Expect: 100-continue, as curl does): it gets the 413 before it
        // sends a byte of the body, which the node never reads.
        var huge = await Patch(node, "{\"relay\":{\"host\":\"" + new string('a', (int)RequestLimits.MaxJsonBody) + "\"}}", expectContinue: true);
        using var messageRequest = new HttpRequestMessage(HttpMethod.Post, "/api/messages?from=a@sender.test&to=b@alpha.test")
        {
            Content = new ByteArrayContent(Encoding.ASCII.GetBytes("Subject: big\r\n\r\n" + new string('x', 20_000) + "\r\n"))
            {
                Headers = { ContentType = new MediaTypeHeaderValue("message/rfc822") },
            },
            Headers = { ExpectContinue = true },
        };
        var message = await node.Http.SendAsync(messageRequest);

        Assert.Equal(HttpStatusCode.BadRequest, duplicate.StatusCode);
        Assert.Contains("timing.threads", await duplicate.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, huge.StatusCode);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, message.StatusCode);
        Assert.Equal(0, (await node.Spool.CountAsync(CancellationToken.None)).Messages);
    }

    [Fact]
    public async Task A_client_that_never_finishes_its_body_is_cut_off_and_the_api_keeps_answering()
    {
        await using var world = LoopbackWorld.Create();
        await using var node = await TestNode.StartAsync(world);
        using var slow = new System.Net.Sockets.TcpClient();
        await slow.ConnectAsync(node.AdminUrl.Host, node.AdminUrl.Port);
        var stream = slow.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(
            $"PATCH /api/settings HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {node.Token}\r\n" +
            "Content-Type: application/merge-patch+json\r\nContent-Length: 1000\r\n\r\n{\"timing\":"));

        // Kestrel's minimum body data rate (240 bytes/s after a 5 s grace) ends the request; the node answers others
        // meanwhile and never applies a half-sent change.
        Assert.Equal(HttpStatusCode.OK, (await node.Http.GetAsync("/api/settings")).StatusCode);
        var buffer = new byte[4096];
        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var reply = new StringBuilder();
        int read;
        while ((read = await stream.ReadAsync(buffer, patience.Token)) > 0)
        {
            reply.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }

        Assert.DoesNotContain("200 OK", reply.ToString());
        Assert.Equal("\"v1\"", (await node.Http.GetAsync("/api/settings")).Headers.ETag!.Tag);
    }

    [Fact]
    public void The_health_status_is_starting_down_degraded_or_ok_by_the_checks_that_fail()
    {
        static Microsoft.Extensions.Diagnostics.HealthChecks.HealthReportEntry Entry(
            Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus status, string[] tags, params string[] reasons) =>
            new(status, null, TimeSpan.Zero, null, reasons.Length == 0 ? null : new Dictionary<string, object> { ["reasons"] = reasons.ToList() }, tags);
        static string StatusOf(params (string Name, Microsoft.Extensions.Diagnostics.HealthChecks.HealthReportEntry Entry)[] entries) =>
            AyTrack.Node.Health.NodeHealth.Summarise(new(entries.ToDictionary(e => e.Name, e => e.Entry), TimeSpan.Zero)).Status;
        var healthy = Entry(Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Healthy, []);
        var joining = Entry(Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Unhealthy, AyTrack.Node.Health.NodeHealth.ClusterReadinessTags);
        var spoolDown = Entry(Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Unhealthy, [], "spool-unwritable");
        var relayDegraded = Entry(Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Degraded, [], "relay-unreachable");

        Assert.Equal("ok", StatusOf(("cluster", healthy), ("storage", healthy)));
        Assert.Equal("degraded", StatusOf(("cluster", healthy), ("relay", relayDegraded)));
        Assert.Equal("down", StatusOf(("cluster", healthy), ("storage", spoolDown), ("relay", relayDegraded)));
        Assert.Equal("starting", StatusOf(("cluster", joining), ("storage", spoolDown)));
        Assert.Contains("cluster-joining", AyTrack.Node.Health.NodeHealth.Summarise(new(new Dictionary<string,
            Microsoft.Extensions.Diagnostics.HealthChecks.HealthReportEntry> { ["cluster"] = joining }, TimeSpan.Zero)).Reasons);
        Assert.True(AyTrack.Node.Health.NodeHealth.IsReady("degraded") && !AyTrack.Node.Health.NodeHealth.IsReady("starting")
                    && !AyTrack.Node.Health.NodeHealth.IsReady("down"));
    }

    [Fact]
    public async Task If_Match_proceeds_on_star_or_a_list_holding_the_current_tag_and_nothing_else()
    {
        await using var world = LoopbackWorld.Create();
        await using var node = await TestNode.StartAsync(world);
        var etag = (await node.Http.GetAsync("/api/settings")).Headers.ETag!.Tag;
        var version = etag.Trim('"').TrimStart('v');

        Assert.Equal(HttpStatusCode.PreconditionFailed, (await Patch(node, """{"timing":{"threads":4}}""", $"W/{etag}")).StatusCode);
        Assert.Equal(HttpStatusCode.PreconditionFailed, (await Patch(node, """{"timing":{"threads":4}}""", version)).StatusCode);
        Assert.Equal(HttpStatusCode.PreconditionFailed, (await Patch(node, """{"timing":{"threads":4}}""", "\"v999\"")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Patch(node, """{"timing":{"threads":4}}""", $"\"v999\", {etag}")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Patch(node, """{"timing":{"threads":5}}""", "*")).StatusCode);
    }

    [Fact]
    public async Task The_audit_trail_names_the_token_and_address_and_labels_are_printable_ascii_only()
    {
        await using var world = LoopbackWorld.Create();
        await using var node = await TestNode.StartAsync(world);

        var escaped = await Patch(node, """{"timing":{"threads":4}}""", label: "evil\u001b[2Jlabel");
        var tooLong = await Patch(node, """{"timing":{"threads":4}}""", label: new string('a', 65));
        var fine = await Patch(node, """{"timing":{"threads":6}}""", label: "deploy-script");
        var history = await node.Http.GetStringAsync("/api/settings/history");

        Assert.Equal(HttpStatusCode.BadRequest, escaped.StatusCode);
        Assert.Contains(AdminAuthentication.ClientHeader, await escaped.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.BadRequest, tooLong.StatusCode);
        Assert.Equal(HttpStatusCode.OK, fine.StatusCode);
        Assert.Contains("deploy-script from 127.0.0.1 (token admin)", history);
    }

    [Fact]
    public async Task The_cli_never_prints_a_control_character_it_received()
    {
        await using var world = LoopbackWorld.Create();
        await using var node = await TestNode.StartAsync(world);
        Assert.Equal(HttpStatusCode.OK, (await Patch(node, """{"relay":{"host":"relay\u001b[31m.test"}}""")).StatusCode);
        var output = new StringWriter();

        var exit = await AyTrackCli.RunAsync(["settings", "show", "--url", node.AdminUrl.ToString(), "--token", node.Token], output, new StringWriter());

        Assert.Equal(0, exit);
        Assert.Contains("relay?[31m.test", output.ToString());
        Assert.DoesNotContain('\u001b', output.ToString());
    }

    private static async Task<HttpStatusCode> GetWithAuthorization(TestNode node, string authorization)
    {
        using var http = new HttpClient { BaseAddress = node.AdminUrl };
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/settings");
        request.Headers.TryAddWithoutValidation("Authorization", authorization);
        return (await http.SendAsync(request)).StatusCode;
    }

    private static Task<HttpResponseMessage> Patch(TestNode node, string json, string? ifMatch = null, string? label = null, bool expectContinue = false)
    {
        var request = new HttpRequestMessage(HttpMethod.Patch, "/api/settings")
        {
            Content = new StringContent(json, Encoding.UTF8, "application/merge-patch+json"),
            Headers = { ExpectContinue = expectContinue },
        };
        if (ifMatch is not null)
        {
            request.Headers.TryAddWithoutValidation("If-Match", ifMatch);
        }

        if (label is not null)
        {
            request.Headers.TryAddWithoutValidation(AdminAuthentication.ClientHeader, label);
        }

        return node.Http.SendAsync(request);
    }

    /// <summary>
    /// Whether the server has ended a held connection: it is readable at once only when the server closed it or
    /// answered it (Kestrel answers a request whose headers never finish only to end it).
    /// </summary>
    private static bool IsClosedByServer(System.Net.Sockets.TcpClient client) => client.Client.Poll(0, System.Net.Sockets.SelectMode.SelectRead);

    private sealed class ManualTime(DateTimeOffset start) : TimeProvider
    {
        private DateTimeOffset _now = start;

        public override DateTimeOffset GetUtcNow() => _now;

        public void Advance(TimeSpan by) => _now += by;
    }
}
