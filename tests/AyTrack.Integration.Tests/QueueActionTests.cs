using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AyTrack.Integration.Tests.Support;
using AyTrack.Loopback;
using MimeKit;
using Xunit;

namespace AyTrack.Integration.Tests;

/// <summary>What an operator does to stuck mail: retry now, hold, release, delete, bounce — per domain or per message.</summary>
public sealed class QueueActionTests
{
    /// <summary>Waits until the three messages of later.test are all deferred and none is in a session.</summary>
    private static Task SettledAsync(TestNode node) => node.WaitForSettledQueueAsync("later.test", q => q.Deferred == 3, Patience);

    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Retry_hold_release_delete_and_bounce_act_on_deferred_mail()
    {
        await using var world = LoopbackWorld.Create();
        world.AddDownHost("mx.later.test");
        world.Dns.AddMx("later.test", 10, "mx.later.test");
        var senders = world.AddDomain("sender.test");
        await using var node = await TestNode.StartAsync(world, "--AyTrack:Delivery:MinBackoff=01:00:00", "--AyTrack:Delivery:MaxBackoff=02:00:00");
        for (var i = 0; i < 3; i++)
        {
            await node.SendAsync(TestNode.NewMessage("app@sender.test", [$"u{i}@later.test"], $"m{i}"));
        }

        // The first message finds the domain unreachable; the other two wait behind it untried, counted as deferred.
        await DeliveryLogReader.WaitForAsync(node.DataDir, "u0@later.test", Patience, outcome: "deferred");
        await SettledAsync(node);

        // Retry: the next attempt comes now, not in an hour, for all three.
        Assert.Equal(3, (await ActAsync(node, "/api/queues/later.test/retry")).GetProperty("recipients").GetInt32());
        await Eventually.UntilAsync(() => Attempts(node, "u0@later.test") == 2, Patience);
        // The delivery log is written as a session ends; a message is in its session until the domain has its results,
        // and destructive actions leave such a message alone. An operator (and this test) waits for the queue to settle.
        await SettledAsync(node);

        // Hold and release.
        Assert.Equal(3, (await ActAsync(node, "/api/queues/later.test/hold")).GetProperty("recipients").GetInt32());
        var held = await node.Http.GetFromJsonAsync<JsonElement>("/api/queues/later.test");
        Assert.Equal(3, held.GetProperty("held").GetInt32());
        Assert.Equal(0, held.GetProperty("deferred").GetInt32());
        Assert.Equal(JsonValueKind.Null, held.GetProperty("nextAttempt").ValueKind);
        Assert.Equal(3, (await ActAsync(node, "/api/queues/later.test/release")).GetProperty("recipients").GetInt32());
        await Eventually.UntilAsync(() => Attempts(node, "u0@later.test") == 3, Patience);
        await SettledAsync(node);

        // Delete one message by its queue id: no delivery, no bounce, logged.
        var queueId = DeliveryLogReader.Read(node.DataDir).First(e => e.GetProperty("recipient").GetString() == "u1@later.test").GetProperty("queueId").GetString();
        Assert.Equal(1, (await ActAsync(node, $"/api/messages/{queueId}/delete")).GetProperty("recipients").GetInt32());
        await DeliveryLogReader.WaitForAsync(node.DataDir, "u1@later.test", Patience, outcome: "deleted");

        // Bounce the rest: a DSN per message goes to the sender.
        Assert.Equal(2, (await ActAsync(node, "/api/queues/later.test/bounce")).GetProperty("recipients").GetInt32());
        var dsns = await senders.WaitForAsync(2, Patience);
        var finalRecipients = dsns.Select(d => Assert.IsType<MultipartReport>(d.Parse().Body).OfType<MessageDeliveryStatus>().Single().StatusGroups[1])
            .Select(g => (g["Final-Recipient"], g["Status"])).OrderBy(x => x.Item1).ToList();
        Assert.Equal([("rfc822; u0@later.test", "5.0.0"), ("rfc822; u2@later.test", "5.0.0")], finalRecipients);
        // Originals bounced or deleted, DSNs delivered: nothing is left in the spool.
        await Eventually.UntilAsync(async () => (await node.Spool.CountAsync(CancellationToken.None)).Messages == 0, Patience);

        Assert.Equal(HttpStatusCode.BadRequest, (await node.Http.PostAsync("/api/queues/later.test/explode", null)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await node.Http.PostAsync("/api/messages/0000/retry", null)).StatusCode);
    }

    private static int Attempts(TestNode node, string recipient) =>
        DeliveryLogReader.Read(node.DataDir).Count(e => e.GetProperty("recipient").GetString() == recipient && e.GetProperty("outcome").GetString() == "deferred");

    private static async Task<JsonElement> ActAsync(TestNode node, string path)
    {
        var response = await node.Http.PostAsync(path, null);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }
}
