using System.Net;
using AyTrack.Integration.Tests.Support;
using AyTrack.Loopback;
using Xunit;

namespace AyTrack.Integration.Tests;

/// <summary>What a client talking to AyTrack's SMTP listener sees: extensions, limits, refusals.</summary>
public sealed class ListenerTests
{
    [Fact]
    public async Task EHLO_advertises_size_pipelining_8bitmime_smtputf8_and_enhanced_status_codes()
    {
        await using var world = LoopbackWorld.Create();
        await using var node = await TestNode.StartAsync(world, "--AyTrack:Listener:MaxMessageSize=123456");
        await using var client = await RawSmtpClient.ConnectAsync(node.SmtpEndpoint);

        var ehlo = await client.CommandAsync("EHLO client.test");

        Assert.Equal(220, client.Greeting.Code);
        Assert.Equal(250, ehlo.Code);
        var extensions = ehlo.Text.Split('\n').Skip(1).ToList();
        Assert.Contains("SIZE 123456", extensions);
        Assert.Contains("PIPELINING", extensions);
        Assert.Contains("8BITMIME", extensions);
        Assert.Contains("SMTPUTF8", extensions);
        // RFC 2034: every reply of the listener carries an RFC 3463 code, so the extension is promised.
        Assert.Contains("ENHANCEDSTATUSCODES", extensions);
        Assert.DoesNotContain("STARTTLS", extensions);
        Assert.DoesNotContain("CHUNKING", extensions);
    }

    [Fact]
    public async Task A_client_outside_the_allowed_networks_is_refused_with_554_5_7_1()
    {
        await using var world = LoopbackWorld.Create();
        await using var node = await TestNode.StartAsync(world, "--AyTrack:Listener:AllowedNetworks:0=127.0.0.1/32");
        // Connect from another loopback address, which the node does not trust.
        await using var client = await RawSmtpClient.ConnectAsync(node.SmtpEndpoint, IPAddress.Parse("127.0.0.77"));

        await client.CommandAsync("EHLO outsider.test");
        var mail = await client.CommandAsync("MAIL FROM:<spammer@outsider.test>");
        var rcpt = await client.CommandAsync("RCPT TO:<victim@alpha.test>");

        Assert.Equal(554, mail.Code);
        Assert.StartsWith("5.7.1 ", mail.Text);
        Assert.InRange(rcpt.Code, 500, 599);
        Assert.Equal(0, (await node.Spool.CountAsync(CancellationToken.None)).Messages);
    }

    [Theory]
    [InlineData("RCPT TO:<no-at-sign>", 501)]
    [InlineData("RCPT TO:<user@single-label>", 553)]
    [InlineData("RCPT TO:<user@[127.0.0.1]>", 553)]
    [InlineData("RCPT TO:<user@bad_domain.test>", 501)]
    [InlineData("RCPT TO:<user@xn--invalid-.test>", 553)]
    public async Task Invalid_recipient_addresses_are_refused_with_a_clear_reply(string command, int expected)
    {
        await using var world = LoopbackWorld.Create();
        await using var node = await TestNode.StartAsync(world);
        await using var client = await RawSmtpClient.ConnectAsync(node.SmtpEndpoint);
        await client.CommandAsync("EHLO client.test");
        Assert.Equal(250, (await client.CommandAsync("MAIL FROM:<app@sender.test>")).Code);

        var reply = await client.CommandAsync(command);

        Assert.Equal(expected, reply.Code);
        Assert.StartsWith(expected == 553 ? "5.1.3 Bad recipient address: " : "5.1.3 Syntax error in RCPT TO address", reply.Text);
    }

    [Fact]
    public async Task Recipients_past_the_limit_get_452_and_the_accepted_ones_are_delivered()
    {
        await using var world = LoopbackWorld.Create();
        var sink = world.AddDomain("alpha.test");
        await using var node = await TestNode.StartAsync(world, "--AyTrack:Listener:MaxRecipients=3");
        await using var client = await RawSmtpClient.ConnectAsync(node.SmtpEndpoint);
        await client.CommandAsync("EHLO client.test");
        await client.CommandAsync("MAIL FROM:<app@sender.test>");

        var replies = new List<RawReply>();
        for (var i = 1; i <= 4; i++)
        {
            replies.Add(await client.CommandAsync($"RCPT TO:<user{i}@alpha.test>"));
        }

        Assert.All(replies.Take(3), r => Assert.Equal(250, r.Code));
        Assert.Equal(452, replies[3].Code);
        Assert.StartsWith("4.5.3 ", replies[3].Text);

        Assert.Equal(354, (await client.CommandAsync("DATA")).Code);
        var done = await client.CommandAsync("Subject: limits\r\n\r\nthree of four\r\n.");
        Assert.Equal(250, done.Code);

        var received = Assert.Single(await sink.WaitForAsync(1, TimeSpan.FromSeconds(30)));
        Assert.Equal(["user1@alpha.test", "user2@alpha.test", "user3@alpha.test"], received.To.Order());
    }

    [Fact]
    public async Task Data_over_the_size_limit_is_refused_with_552_even_without_a_SIZE_declaration()
    {
        await using var world = LoopbackWorld.Create();
        await using var node = await TestNode.StartAsync(world, "--AyTrack:Listener:MaxMessageSize=2000");
        await using var client = await RawSmtpClient.StartDataAsync(node.SmtpEndpoint, "app@sender.test", "user@alpha.test");

        var reply = await client.CommandAsync("Subject: big\r\n\r\n" + string.Concat(Enumerable.Repeat(new string('x', 70) + "\r\n", 40)) + ".");

        Assert.Equal(552, reply.Code);
        Assert.StartsWith("5.3.4 ", reply.Text);
        // The session stays usable and nothing was queued.
        Assert.Equal(250, (await client.CommandAsync("RSET")).Code);
        Assert.Equal(0, (await node.Spool.CountAsync(CancellationToken.None)).Messages);
    }

    [Fact]
    public async Task A_declared_SIZE_over_the_limit_is_refused_at_MAIL_FROM()
    {
        await using var world = LoopbackWorld.Create();
        await using var node = await TestNode.StartAsync(world, "--AyTrack:Listener:MaxMessageSize=2000");
        await using var client = await RawSmtpClient.ConnectAsync(node.SmtpEndpoint);
        await client.CommandAsync("EHLO client.test");

        var reply = await client.CommandAsync("MAIL FROM:<app@sender.test> SIZE=5000");

        Assert.Equal(552, reply.Code);
    }

    [Theory]
    [InlineData("Subject: smuggle\r\n\r\nfirst\n.\r\nMAIL FROM:<evil@sender.test>\r\nRCPT TO:<victim@alpha.test>\r\nDATA\r\n\r\nforged\r\n.")]
    [InlineData("Subject: smuggle\r\n\r\nfirst\r\n.\nMAIL FROM:<evil@sender.test>\r\n\r\nforged\r\n.")]
    [InlineData("Subject: bare lf\n\nbody with bare LF line endings\r\n.")]
    [InlineData("Subject: bare cr\r\n\r\nbody with a bare\rCR\r\n.")]
    public async Task Bare_line_endings_and_smuggling_attempts_are_refused_and_never_passed_on(string data)
    {
        await using var world = LoopbackWorld.Create();
        var sink = world.AddDomain("alpha.test");
        await using var node = await TestNode.StartAsync(world);
        await using var client = await RawSmtpClient.StartDataAsync(node.SmtpEndpoint, "app@sender.test", "user@alpha.test");

        // The data ends at the first proper CRLF.CRLF; whatever precedes it must be refused whole.
        await client.WriteAsync(data + "\r\n");
        var reply = await client.ReadReplyAsync();

        Assert.Equal(550, reply.Code);
        Assert.StartsWith("5.5.2 ", reply.Text);
        Assert.Equal(0, (await node.Spool.CountAsync(CancellationToken.None)).Messages);
        // A message that is accepted afterwards on the same session proves the refusal left nothing queued.
        await client.CommandAsync("MAIL FROM:<app@sender.test>");
        await client.CommandAsync("RCPT TO:<marker@alpha.test>");
        await client.CommandAsync("DATA");
        Assert.Equal(250, (await client.CommandAsync("Subject: marker\r\n\r\nclean\r\n.")).Code);
        var received = Assert.Single(await sink.WaitForAsync(1, TimeSpan.FromSeconds(30)));
        Assert.Equal(["marker@alpha.test"], received.To);
    }

    [Fact]
    public async Task Pipelined_commands_get_one_reply_each_in_order()
    {
        await using var world = LoopbackWorld.Create();
        var sink = world.AddDomain("alpha.test");
        await using var node = await TestNode.StartAsync(world);
        await using var client = await RawSmtpClient.ConnectAsync(node.SmtpEndpoint);
        await client.CommandAsync("EHLO client.test");

        // RFC 2920: MAIL, RCPT… and DATA may be sent in one go; replies come back in order.
        await client.WriteAsync("MAIL FROM:<app@sender.test>\r\nRCPT TO:<a@alpha.test>\r\nRCPT TO:<b@alpha.test>\r\nDATA\r\n");
        var replies = new[] { await client.ReadReplyAsync(), await client.ReadReplyAsync(), await client.ReadReplyAsync(), await client.ReadReplyAsync() };
        Assert.Equal([250, 250, 250, 354], replies.Select(r => r.Code));
        Assert.Equal(250, (await client.CommandAsync("Subject: pipelined\r\n\r\nhi\r\n.")).Code);
        Assert.Equal(2, Assert.Single(await sink.WaitForAsync(1, TimeSpan.FromSeconds(30))).To.Count);
    }
}
