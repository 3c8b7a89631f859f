using System.Net.Http.Json;
using AyTrack.Integration.Tests.Support;
using AyTrack.Loopback;
using MimeKit;
using SmtpServer.Protocol;
using Xunit;

namespace AyTrack.Integration.Tests;

/// <summary>What happens when delivery goes wrong: retries, bounces (RFC 3464 DSNs) and expiry.</summary>
public sealed class RetryAndBounceTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(45);

    private static readonly string[] FastRetries =
    [
        "--AyTrack:Delivery:MinBackoff=00:00:00.500",
        "--AyTrack:Delivery:MaxBackoff=00:00:01",
    ];

    [Fact]
    public async Task A_temporary_failure_is_retried_and_then_delivered()
    {
        // Story: the MX answers 451 to the first two attempts, then accepts.
        await using var world = LoopbackWorld.Create();
        var sink = world.AddDomain("busy.test");
        var attempts = 0;
        sink.DataReply = _ => Interlocked.Increment(ref attempts) <= 2 ? new SmtpResponse(SmtpReplyCode.Aborted, "4.3.0 try again later") : null;
        await using var node = await TestNode.StartAsync(world, FastRetries);

        await node.SendAsync(TestNode.NewMessage("app@sender.test", ["x@busy.test"], "retry me"));

        Assert.Single(await sink.WaitForAsync(1, Patience));
        Assert.Equal(3, attempts);
        await DeliveryLogReader.WaitForAsync(node.DataDir, "x@busy.test", Patience, outcome: "delivered");
        var log = DeliveryLogReader.Read(node.DataDir).Where(e => e.GetProperty("recipient").GetString() == "x@busy.test").ToList();
        Assert.Equal(["deferred", "deferred", "delivered"], log.Select(e => e.GetProperty("outcome").GetString()));
        Assert.Equal([1, 2, 3], log.Select(e => e.GetProperty("attempt").GetInt32()));
    }

    [Fact]
    public async Task A_permanent_failure_bounces_a_DSN_to_the_sender()
    {
        await using var world = LoopbackWorld.Create();
        var target = world.AddDomain("strict.test");
        target.RecipientReply = r => r.StartsWith("ghost@") ? new SmtpResponse(SmtpReplyCode.MailboxUnavailable, "5.1.1 <ghost@strict.test>: user unknown") : null;
        var senders = world.AddDomain("sender.test");
        await using var node = await TestNode.StartAsync(world, FastRetries);
        var original = TestNode.NewMessage("app@sender.test", ["ghost@strict.test", "real@strict.test"], "who is there");

        await node.SendAsync(original);

        Assert.Equal(["real@strict.test"], Assert.Single(await target.WaitForAsync(1, Patience)).To);
        var bounce = Assert.Single(await senders.WaitForAsync(1, Patience));
        Assert.Equal(string.Empty, bounce.From);
        Assert.Equal(["app@sender.test"], bounce.To);
        var dsn = bounce.Parse();
        Assert.Equal("auto-replied", dsn.Headers["Auto-Submitted"]);
        Assert.Equal(original.MessageId, dsn.InReplyTo);
        var report = Assert.IsType<MultipartReport>(dsn.Body);
        Assert.Equal("delivery-status", report.ReportType);
        var status = Assert.Single(report.OfType<MessageDeliveryStatus>());
        Assert.Equal("dns; aytrack.test", status.StatusGroups[0]["Reporting-MTA"]);
        var recipient = Assert.Single(status.StatusGroups.Skip(1), g => g.Count > 0);
        Assert.Equal("rfc822; ghost@strict.test", recipient["Final-Recipient"]);
        Assert.Equal("failed", recipient["Action"]);
        Assert.Equal("5.1.1", recipient["Status"]);
        Assert.Equal("dns; mx.strict.test", recipient["Remote-MTA"]);
        Assert.StartsWith("smtp; 550 5.1.1 <ghost@strict.test>: user unknown", recipient["Diagnostic-Code"]);
        var headers = Assert.Single(report.OfType<TextRfc822Headers>());
        Assert.Equal("who is there", headers.Message?.Subject);
        // The delivery log's bounce line carries the server's reply once (not "5.1.1 550 5.1.1 …").
        var logged = await DeliveryLogReader.WaitForAsync(node.DataDir, "ghost@strict.test", Patience, outcome: "bounced");
        Assert.StartsWith("550 5.1.1 <ghost@strict.test>: user unknown", logged.GetProperty("reply").GetString());
    }

    [Fact]
    public async Task A_domain_with_null_MX_bounces_at_once_with_5_1_10()
    {
        await using var world = LoopbackWorld.Create();
        world.Dns.AddNullMx("nomail.test");
        var senders = world.AddDomain("sender.test");
        await using var node = await TestNode.StartAsync(world, FastRetries);

        await node.SendAsync(TestNode.NewMessage("app@sender.test", ["x@nomail.test"], "null mx"));

        var report = Assert.IsType<MultipartReport>(Assert.Single(await senders.WaitForAsync(1, Patience)).Parse().Body);
        var recipient = report.OfType<MessageDeliveryStatus>().Single().StatusGroups[1];
        Assert.Equal("5.1.10", recipient["Status"]);
        Assert.Equal("rfc822; x@nomail.test", recipient["Final-Recipient"]);
    }

    [Fact]
    public async Task Mail_still_deferred_when_retry_days_run_out_expires_with_5_4_7()
    {
        // Story: the MX is down for good; retryDays is a few seconds (decimals allowed), so the message expires.
        await using var world = LoopbackWorld.Create();
        world.AddDownHost("mx.down.test");
        world.Dns.AddMx("down.test", 10, "mx.down.test");
        var senders = world.AddDomain("sender.test");
        await using var node = await TestNode.StartAsync(world, [.. FastRetries, "--AyTrack:Settings:Timing:RetryDays=0.00004"]);

        await node.SendAsync(TestNode.NewMessage("app@sender.test", ["x@down.test"], "too late"));

        var report = Assert.IsType<MultipartReport>(Assert.Single(await senders.WaitForAsync(1, Patience)).Parse().Body);
        var recipient = report.OfType<MessageDeliveryStatus>().Single().StatusGroups[1];
        Assert.Equal("5.4.7", recipient["Status"]);
        Assert.StartsWith("smtp; 451 4.4.1 Connection to mx.down.test", recipient["Diagnostic-Code"]);
        var attempts = DeliveryLogReader.Read(node.DataDir).Count(e => e.GetProperty("recipient").GetString() == "x@down.test"
                                                                       && e.GetProperty("outcome").GetString() == "deferred");
        Assert.True(attempts >= 2, $"expected retries before expiry, saw {attempts} attempt(s)");
    }

    [Fact]
    public async Task A_domain_that_cannot_be_reached_costs_one_connection_per_interval_not_one_per_message()
    {
        // Story: the MX closes every session at EHLO with 421 (RFC 5321 §3.8). Mail keeps arriving for the domain: it
        // waits behind the first failure untried (Postfix's dead destination) instead of each message opening a
        // connection of its own, and is reported as deferred. When the MX is back, an operator's retry sends all of it
        // in one session.
        var up = false;
        await using var world = LoopbackWorld.Create();
        var mx = world.AddScriptedDomain("flaky.test", command => command.Split(' ')[0].ToUpperInvariant() switch
        {
            "EHLO" => Volatile.Read(ref up) ? "250 mx.flaky.test\r\n" : "421 4.3.2 mx.flaky.test is shutting down\r\n",
            "MAIL" or "RCPT" or "RSET" or "NOOP" => "250 2.0.0 ok\r\n",
            "DATA" => "354 go ahead\r\n",
            ScriptedHost.EndOfData => "250 2.0.0 queued\r\n",
            "QUIT" => "221 2.0.0 bye\r\n",
            _ => "502 5.5.2 not here\r\n",
        });
        await using var node = await TestNode.StartAsync(world, "--AyTrack:Delivery:MinBackoff=00:05:00", "--AyTrack:Delivery:MaxBackoff=01:00:00");
        int Sessions() => mx.Commands.Count(c => c.StartsWith("EHLO", StringComparison.OrdinalIgnoreCase));

        await node.SendAsync(TestNode.NewMessage("app@sender.test", ["first@flaky.test"], "first"));
        var first = await DeliveryLogReader.WaitForAsync(node.DataDir, "first@flaky.test", Patience, outcome: "deferred");
        Assert.Contains("4.3.2 mx.flaky.test is shutting down", first.GetProperty("reply").GetString());

        for (var i = 0; i < 5; i++)
        {
            await node.SendAsync(TestNode.NewMessage("app@sender.test", [$"later{i}@flaky.test"], $"later {i}"));
        }

        var waiting = await QueueAsync(node, "flaky.test", q => q.GetProperty("deferred").GetInt32() == 6);
        Assert.Equal(0, waiting.GetProperty("pending").GetInt32());
        Assert.Contains("4.3.2 mx.flaky.test is shutting down", waiting.GetProperty("lastError").GetString());
        Assert.True(waiting.GetProperty("nextAttempt").GetDateTimeOffset() > DateTimeOffset.UtcNow.AddMinutes(4));
        Assert.Equal(1, Sessions());
        Assert.DoesNotContain(DeliveryLogReader.Read(node.DataDir), e => e.GetProperty("recipient").GetString()!.StartsWith("later", StringComparison.Ordinal));

        Volatile.Write(ref up, true);
        var retried = await node.Http.PostAsync("/api/queues/flaky.test/retry", null);
        retried.EnsureSuccessStatusCode();
        Assert.Equal(6, (await retried.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>()).GetProperty("recipients").GetInt32());

        await Eventually.UntilAsync(() => mx.Data.Count == 6, Patience);
        Assert.Equal(2, Sessions());
        await QueueAsync(node, "flaky.test", q => q.GetProperty("deferred").GetInt32() == 0 && q.GetProperty("pending").GetInt32() == 0);
    }

    private static async Task<System.Text.Json.JsonElement> QueueAsync(TestNode node, string domain, Func<System.Text.Json.JsonElement, bool> condition)
    {
        System.Text.Json.JsonElement queue = default;
        await Eventually.UntilAsync(async () => condition(queue = await node.Http.GetFromJsonAsync<System.Text.Json.JsonElement>($"/api/queues/{domain}")), Patience);
        return queue;
    }

    [Fact]
    public async Task A_bounce_is_never_bounced()
    {
        // Story: a message with the null sender (itself a bounce) fails permanently: it is logged, no DSN is sent.
        await using var world = LoopbackWorld.Create();
        var target = world.AddDomain("strict.test");
        target.RecipientReply = _ => new SmtpResponse(SmtpReplyCode.MailboxUnavailable, "5.1.1 user unknown");
        var senders = world.AddDomain("sender.test");
        await using var node = await TestNode.StartAsync(world, FastRetries);

        await node.SendAsync(TestNode.NewMessage("app@sender.test", ["ghost@strict.test"], "a bounce"), sender: string.Empty);

        var logged = await DeliveryLogReader.WaitForAsync(node.DataDir, "ghost@strict.test", Patience, outcome: "failed-not-bounced");
        Assert.StartsWith("550 5.1.1 user unknown", logged.GetProperty("reply").GetString());
        // The message has left the spool: nothing more is coming to the sender's domain.
        await Eventually.UntilAsync(async () => (await node.Spool.CountAsync(CancellationToken.None)).Messages == 0, Patience);
        Assert.Empty(senders.Received);
    }

    [Fact]
    public async Task Each_deferred_message_is_attempted_once_per_retry_never_twice_at_once()
    {
        // Story: 300 messages for a domain whose MX defers every recipient (greylisting: it answers, so the domain is
        // reachable and each message is tried as it arrives). Sessions fail fast while more mail arrives; every
        // message must see exactly one first attempt before its (distant) retry time.
        const int count = 300;
        await using var world = LoopbackWorld.Create();
        var greylisting = world.AddDomain("later.test");
        greylisting.RecipientReply = _ => new SmtpResponse((SmtpReplyCode)450, "4.2.0 greylisted, try again later");
        await using var node = await TestNode.StartAsync(world, "--AyTrack:Delivery:MinBackoff=00:10:00");

        await Task.WhenAll(Enumerable.Range(0, 4).Select(async session =>
        {
            for (var i = session; i < count; i += 4)
            {
                await node.SendAsync(TestNode.NewMessage("app@sender.test", [$"user{i}@later.test"], $"m{i}"));
            }
        }));

        using var cts = new CancellationTokenSource(Patience);
        // The recipients' lines; the site's own lines (the automation rule that reduces a rate-limiting site) name none.
        IReadOnlyList<System.Text.Json.JsonElement> Attempts() =>
            DeliveryLogReader.Read(node.DataDir).Where(l => l.GetProperty("outcome").GetString() != "site").ToList();
        IReadOnlyList<System.Text.Json.JsonElement> lines;
        while ((lines = Attempts()).Select(l => l.GetProperty("recipient").GetString()).Distinct().Count() < count)
        {
            await Task.Delay(50, cts.Token);
        }

        Assert.All(lines.GroupBy(l => l.GetProperty("recipient").GetString()), g => Assert.Single(g));
    }
}
