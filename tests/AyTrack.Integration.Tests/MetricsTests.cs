using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using AyTrack.Integration.Tests.Support;
using AyTrack.Loopback;
using SmtpServer.Protocol;
using Xunit;

namespace AyTrack.Integration.Tests;

/// <summary>GET /metrics as a Prometheus server scrapes it: its own read-only token, and figures that follow the mail.</summary>
public sealed class MetricsTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Metrics_need_a_token_and_the_metrics_token_opens_nothing_else()
    {
        await using var world = LoopbackWorld.Create();
        await using var node = await TestNode.StartAsync(world);
        var metricsToken = (await File.ReadAllTextAsync(Path.Combine(node.DataDir, "metrics.token"))).Trim();
        using var anonymous = new HttpClient { BaseAddress = node.AdminUrl };

        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/metrics")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Scrape(anonymous, "not-the-token-not-the-token-not-the-token")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Scrape(anonymous, metricsToken)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Scrape(anonymous, node.Token)).StatusCode);

        using var withMetricsToken = new HttpRequestMessage(HttpMethod.Get, "/api/settings");
        withMetricsToken.Headers.Authorization = new AuthenticationHeaderValue("Bearer", metricsToken);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.SendAsync(withMetricsToken)).StatusCode);
        Assert.NotEqual(node.Token, metricsToken);
    }

    [Fact]
    public async Task Counters_and_gauges_follow_accepted_delivered_and_deferred_mail()
    {
        await using var world = LoopbackWorld.Create();
        var alpha = world.AddDomain("alpha.test");
        var slow = world.AddDomain("slow.test");
        slow.RecipientReply = _ => new SmtpResponse((SmtpReplyCode)450, "4.2.1 try again later");
        await using var node = await TestNode.StartAsync(world, "--AyTrack:Settings:Timing:Threads=3");

        for (var i = 0; i < 3; i++)
        {
            await node.SendAsync(TestNode.NewMessage("app@sender.test", [$"user{i}@alpha.test"], $"Message {i}"));
        }

        await node.SendAsync(TestNode.NewMessage("app@sender.test", ["user@slow.test"], "Deferred"));
        var injected = await node.Http.PostAsync("/api/messages?from=app@sender.test&to=api@alpha.test",
            new StringContent("Subject: over HTTP\r\n\r\nHello.\r\n", Encoding.UTF8, "message/rfc822"));
        Assert.Equal(HttpStatusCode.Accepted, injected.StatusCode);
        await alpha.WaitForAsync(4, Patience);
        await DeliveryLogReader.WaitForAsync(node.DataDir, "user@slow.test", Patience, "deferred");

        IReadOnlyDictionary<string, double> metrics = new Dictionary<string, double>();
        try
        {
            await Eventually.UntilAsync(async () =>
            {
                metrics = await ScrapeAsync(node);
                return metrics.GetValueOrDefault("aytrack_queue_recipients{state=\"deferred\"}") == 1;
            }, Patience);
        }
        catch (OperationCanceledException)
        {
            Assert.Fail("the deferred recipient never showed: " + string.Join("; ", metrics.Where(m => m.Key.StartsWith("aytrack_", StringComparison.Ordinal) && !m.Key.Contains("bucket"))));
        }

        Assert.Equal(4, metrics["aytrack_messages_accepted_total{source=\"smtp\"}"]);
        Assert.Equal(1, metrics["aytrack_messages_accepted_total{source=\"http\"}"]);
        Assert.Equal(4, metrics["aytrack_deliveries_total{outcome=\"delivered\",route=\"direct\"}"]);
        Assert.Equal(1, metrics["aytrack_deliveries_total{outcome=\"deferred\",route=\"direct\"}"]);
        Assert.Equal(0, metrics["aytrack_queue_recipients{state=\"pending\"}"]);
        Assert.Equal(0, metrics["aytrack_queue_recipients{state=\"held\"}"]);
        Assert.True(metrics["aytrack_queue_oldest_age_seconds"] > 0);
        Assert.Equal(5, metrics["aytrack_acceptance_duration_seconds_count"]);
        Assert.True(metrics["aytrack_smtp_session_duration_seconds_count"] >= 4);
        Assert.Equal(3, metrics["aytrack_worker_pool_size"]);
        Assert.Equal(1, metrics["aytrack_cluster_members{status=\"up\"}"]);
        Assert.True(metrics["process_cpu_seconds_total"] > 0);
        Assert.Contains(metrics.Keys, k => k.StartsWith("system_runtime_", StringComparison.Ordinal));
        // Label values come from fixed sets: no domain or address ever labels a series.
        Assert.DoesNotContain(metrics.Keys, k => k.Contains(".test") || k.Contains("127.0.0."));

        // Held mail is a state of its own.
        Assert.True((await node.Http.PostAsync("/api/queues/slow.test/hold", null)).IsSuccessStatusCode);
        await Eventually.UntilAsync(async () => (await ScrapeAsync(node)).GetValueOrDefault("aytrack_queue_recipients{state=\"held\"}") == 1, Patience);
    }

    private static async Task<HttpResponseMessage> Scrape(HttpClient client, string token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/metrics");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return await client.SendAsync(request);
    }

    /// <summary>The exposition's samples by series (name and labels as written), as a Prometheus server reads them.</summary>
    private static async Task<IReadOnlyDictionary<string, double>> ScrapeAsync(TestNode node)
    {
        var text = await node.Http.GetStringAsync("/metrics");
        var samples = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => !l.StartsWith('#')))
        {
            var space = line.LastIndexOf(' ');
            if (space > 0 && double.TryParse(line[(space + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            {
                samples[line[..space]] = value;
            }
        }

        return samples;
    }
}
