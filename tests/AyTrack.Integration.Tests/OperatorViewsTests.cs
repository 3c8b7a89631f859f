using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AyTrack.Cli;
using AyTrack.Contracts;
using AyTrack.Integration.Tests.Support;
using AyTrack.Loopback;
using SmtpServer.Protocol;
using Xunit;

namespace AyTrack.Integration.Tests;

/// <summary>What the status pages read: a domain's queued messages and the newest delivery-log lines, over HTTP and the CLI.</summary>
public sealed class OperatorViewsTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_domains_messages_and_the_recent_deliveries_are_listed_filtered_and_bounded()
    {
        await using var world = LoopbackWorld.Create();
        var alpha = world.AddDomain("alpha.test");
        var slow = world.AddDomain("slow.test");
        slow.RecipientReply = _ => new SmtpResponse((SmtpReplyCode)450, "4.2.1 mailbox busy, try later");
        await using var node = await TestNode.StartAsync(world);
        await node.SendAsync(TestNode.NewMessage("app@sender.test", ["first@slow.test"], "one"));
        await node.SendAsync(TestNode.NewMessage("app@sender.test", ["second@slow.test"], "two"));
        await node.SendAsync(TestNode.NewMessage("app@sender.test", ["someone@alpha.test"], "three"));
        await alpha.WaitForAsync(1, Patience);
        await DeliveryLogReader.WaitForAsync(node.DataDir, "first@slow.test", Patience, "deferred");
        await DeliveryLogReader.WaitForAsync(node.DataDir, "second@slow.test", Patience, "deferred");
        await node.WaitForSettledQueueAsync("slow.test", q => q.Deferred == 2, Patience);

        var list = (await node.Http.GetFromJsonAsync<DomainMessages>("/api/queues/slow.test/messages"))!;
        Assert.Equal(2, list.Total);
        Assert.Equal(["first@slow.test", "second@slow.test"], list.Messages.Select(m => Assert.Single(m.Recipients).Address));
        var first = list.Messages[0].Recipients[0];
        Assert.Equal(("Deferred", 1, false), (first.State, first.Attempts, first.Held));
        Assert.Contains("4.2.1", first.LastReply);
        Assert.NotNull(first.Category);
        Assert.NotNull(first.NextAttempt);

        var one = (await node.Http.GetFromJsonAsync<DomainMessages>("/api/queues/slow.test/messages?limit=1"))!;
        Assert.Equal((2, 1), (one.Total, one.Messages.Count));
        await AssertRefusedAsync(node, "/api/queues/slow.test/messages?limit=0", "limit");
        await AssertRefusedAsync(node, "/api/queues/not_a_domain/messages", "domain");

        var delivered = (await node.Http.GetFromJsonAsync<List<DeliveryEntry>>("/api/deliveries?domain=alpha.test"))!;
        var line = Assert.Single(delivered);
        Assert.Equal(("someone@alpha.test", "delivered", "direct"), (line.Recipient, line.Outcome, line.Route));
        var deferred = (await node.Http.GetFromJsonAsync<List<DeliveryEntry>>("/api/deliveries?outcome=deferred"))!;
        Assert.Equal(["first@slow.test", "second@slow.test"], deferred.Select(d => d.Recipient).Order(StringComparer.Ordinal));
        // Newest first: the lines come back in the reverse of the order they were written.
        var written = DeliveryLogReader.Read(node.DataDir).Where(e => e.GetProperty("outcome").GetString() == "deferred")
            .Select(e => e.GetProperty("recipient").GetString()).Reverse();
        Assert.Equal(written, deferred.Select(d => d.Recipient));
        Assert.Single((await node.Http.GetFromJsonAsync<List<DeliveryEntry>>("/api/deliveries?limit=1"))!);
        await AssertRefusedAsync(node, "/api/deliveries?outcome=lost", "outcome");
        await AssertRefusedAsync(node, "/api/deliveries?limit=501", "limit");

        var messages = await CliAsync(node, "queue", "messages", "slow.test");
        Assert.Contains("2 message(s) queued for slow.test", messages);
        Assert.Contains(list.Messages[1].Id, messages);
        var recent = await CliAsync(node, "deliveries", "--outcome", "deferred", "--domain", "slow.test");
        Assert.Contains("second@slow.test", recent);
        Assert.DoesNotContain("alpha.test", recent);
    }

    private static async Task AssertRefusedAsync(TestNode node, string path, string field)
    {
        var response = await node.Http.GetAsync(path);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.True(JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("errors").TryGetProperty(field, out _), path);
    }

    private static async Task<string> CliAsync(TestNode node, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var exit = await AyTrackCli.RunAsync([.. args, "--url", node.AdminUrl.ToString(), "--token", node.Token], output, error);
        Assert.True(exit == 0, error.ToString());
        return output.ToString();
    }
}
