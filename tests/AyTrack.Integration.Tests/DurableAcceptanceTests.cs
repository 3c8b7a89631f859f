using System.Net;
using AyTrack.Integration.Tests.Support;
using AyTrack.Loopback;
using Microsoft.Data.Sqlite;
using Xunit;

namespace AyTrack.Integration.Tests;

/// <summary>
/// A message is acknowledged only once body, envelope and every recipient are on disk together; when the spool
/// cannot write, the client hears 451 and nothing is half-queued.
/// </summary>
public sealed class DurableAcceptanceTests
{
    [Fact]
    public async Task A_failing_spool_write_answers_451_and_queues_nothing_while_other_mail_is_still_accepted()
    {
        await using var world = LoopbackWorld.Create();
        var sink = world.AddDomain("alpha.test");
        await using var node = await TestNode.StartAsync(world);
        // A real SQLite failure in the middle of the transaction: the message row is written, then the second
        // recipient's insert aborts. The whole transaction must roll back.
        await using (var db = new SqliteConnection($"Data Source={Path.Combine(node.DataDir, "spool.db")}"))
        {
            await db.OpenAsync();
            await using var trigger = db.CreateCommand();
            trigger.CommandText = """
                CREATE TRIGGER fail_poison BEFORE INSERT ON recipients
                WHEN NEW.address = 'poison@alpha.test'
                BEGIN SELECT RAISE(ABORT, 'injected disk failure'); END;
                """;
            await trigger.ExecuteNonQueryAsync();
        }

        await using var client = await RawSmtpClient.ConnectAsync(node.SmtpEndpoint);
        await client.CommandAsync("EHLO client.test");
        await client.CommandAsync("MAIL FROM:<app@sender.test>");
        await client.CommandAsync("RCPT TO:<first@alpha.test>");
        await client.CommandAsync("RCPT TO:<poison@alpha.test>");
        await client.CommandAsync("DATA");
        var failed = await client.CommandAsync("Subject: doomed\r\n\r\nnot stored\r\n.");

        Assert.Equal(451, failed.Code);
        Assert.StartsWith("4.3.0 ", failed.Text);
        var counts = await node.Spool.CountAsync(CancellationToken.None);
        Assert.Equal(0, counts.Messages);
        Assert.Equal(0, counts.Recipients);

        // The session and the spool go on working for the next message.
        await client.CommandAsync("MAIL FROM:<app@sender.test>");
        await client.CommandAsync("RCPT TO:<second@alpha.test>");
        await client.CommandAsync("DATA");
        Assert.Equal(250, (await client.CommandAsync("Subject: fine\r\n\r\nstored\r\n.")).Code);
        var received = Assert.Single(await sink.WaitForAsync(1, TimeSpan.FromSeconds(30)));
        Assert.Equal(["second@alpha.test"], received.To);
    }

    [Fact]
    public async Task A_failing_spool_write_answers_503_to_the_injection_api()
    {
        await using var world = LoopbackWorld.Create();
        await using var node = await TestNode.StartAsync(world);
        await using (var db = new SqliteConnection($"Data Source={Path.Combine(node.DataDir, "spool.db")}"))
        {
            await db.OpenAsync();
            await using var trigger = db.CreateCommand();
            trigger.CommandText = "CREATE TRIGGER fail_all BEFORE INSERT ON messages BEGIN SELECT RAISE(ABORT, 'injected'); END;";
            await trigger.ExecuteNonQueryAsync();
        }

        var content = new ByteArrayContent("Subject: x\r\n\r\nx\r\n"u8.ToArray());
        content.Headers.ContentType = new("message/rfc822");
        var response = await node.Http.PostAsync("/api/messages?from=app@sender.test&to=a@alpha.test", content);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(0, (await node.Spool.CountAsync(CancellationToken.None)).Messages);
    }

    [Fact]
    public async Task Accepted_mail_leaves_the_spool_once_every_recipient_is_final()
    {
        await using var world = LoopbackWorld.Create();
        var sink = world.AddDomain("alpha.test");
        await using var node = await TestNode.StartAsync(world);

        await node.SendAsync(TestNode.NewMessage("app@sender.test", ["a@alpha.test", "b@alpha.test"], "housekeeping"));
        await sink.WaitForAsync(1, TimeSpan.FromSeconds(30));

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while ((await node.Spool.CountAsync(cts.Token)).Messages > 0)
        {
            await Task.Delay(20, cts.Token);
        }

        Assert.Equal(new AyTrack.Core.Spool.SpoolCounts(0, 0, 0), await node.Spool.CountAsync(CancellationToken.None));
    }
}
