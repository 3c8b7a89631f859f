using System.Text;
using AyTrack.Integration.Tests.Support;
using AyTrack.Loopback;
using Xunit;

namespace AyTrack.Integration.Tests;

/// <summary>
/// The listener's conformance table (RFC 5321 and its extensions), each case against the real listener and, where
/// mail is accepted, through to the receiving host. Postfix's behaviour is the reference for each.
/// </summary>
public sealed class ListenerConformanceTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_dot_right_after_354_is_an_empty_message_that_is_queued_and_delivered()
    {
        await using var world = LoopbackWorld.Create();
        var sink = world.AddDomain("alpha.test");
        await using var node = await TestNode.StartAsync(world);
        await using var client = await RawSmtpClient.StartDataAsync(node.SmtpEndpoint, "app@sender.test", "user@alpha.test");
        var reply = await client.CommandAsync(".");

        Assert.Equal(250, reply.Code);
        var received = Assert.Single(await sink.WaitForAsync(1, Patience));
        // Only our trace header: the client's message had no octets at all.
        Assert.StartsWith("Received: from client.test", received.Text);
        Assert.DoesNotContain("\r\n\r\n", received.Text.TrimEnd());
    }

    [Fact]
    public async Task Dot_stuffed_lines_are_unstuffed_and_delivered_exactly()
    {
        await using var world = LoopbackWorld.Create();
        var sink = world.AddDomain("alpha.test");
        await using var node = await TestNode.StartAsync(world);
        await using var client = await RawSmtpClient.StartDataAsync(node.SmtpEndpoint, "app@sender.test", "user@alpha.test");

        // RFC 5321 §4.5.2: the first data line "..x" is ".x"; a body line "..." is "..".
        var reply = await client.CommandAsync("..x: a header that starts with a dot\r\nSubject: dots\r\n\r\n...\r\n..y\r\n.");

        Assert.Equal(250, reply.Code);
        var text = Assert.Single(await sink.WaitForAsync(1, Patience)).Text;
        Assert.Contains("\r\n.x: a header that starts with a dot\r\n", text);
        Assert.EndsWith("\r\n\r\n..\r\n.y\r\n", text);
    }

    [Fact]
    public async Task A_quoted_local_part_is_accepted_and_delivered_byte_exact()
    {
        await using var world = LoopbackWorld.Create();
        var host = world.AddLegacyDomain("legacy.test");
        await using var node = await TestNode.StartAsync(world);
        await using var client = await RawSmtpClient.StartDataAsync(node.SmtpEndpoint, "\"app sender\"@sender.test", "\"a b\"@legacy.test");

        Assert.Equal(250, (await client.CommandAsync("Subject: quoted\r\n\r\nhi\r\n.")).Code);

        // The receiving host sees the paths exactly as our client wrote them (RFC 5321 §2.4: the local part is theirs).
        await Eventually.UntilAsync(() => host.Messages == 1, Patience);
        Assert.Contains(host.Commands, c => c.StartsWith("MAIL FROM:<\"app sender\"@sender.test>", StringComparison.Ordinal));
        Assert.Contains("RCPT TO:<\"a b\"@legacy.test>", host.Commands);
    }

    [Fact]
    public async Task UTF8_addresses_need_SMTPUTF8_and_are_delivered_with_it()
    {
        await using var world = LoopbackWorld.Create();
        var sink = world.AddDomain("alpha.test");
        await using var node = await TestNode.StartAsync(world);
        await using var client = await RawSmtpClient.ConnectAsync(node.SmtpEndpoint);
        await client.CommandAsync("EHLO client.test");

        var without = await client.CommandAsync("MAIL FROM:<jörg@sender.test>");
        Assert.Equal(553, without.Code);
        Assert.StartsWith("5.6.7 ", without.Text);

        Assert.Equal(250, (await client.CommandAsync("MAIL FROM:<jörg@sender.test> SMTPUTF8")).Code);
        Assert.Equal(250, (await client.CommandAsync("RCPT TO:<δοκιμή@alpha.test>")).Code);
        await client.CommandAsync("DATA");
        Assert.Equal(250, (await client.CommandAsync("Subject: =?utf-8?q?gr=C3=BC=C3=9Fe?=\r\n\r\nhi\r\n.")).Code);

        var received = Assert.Single(await sink.WaitForAsync(1, Patience));
        Assert.Equal(["δοκιμή@alpha.test"], received.To);
        Assert.Equal("jörg@sender.test", received.From);
    }

    [Fact]
    public async Task UTF8_mail_for_a_host_without_SMTPUTF8_is_bounced_with_5_6_7_and_never_downgraded()
    {
        await using var world = LoopbackWorld.Create();
        var senders = world.AddDomain("sender.test");
        var legacy = world.AddLegacyDomain("legacy.test");
        await using var node = await TestNode.StartAsync(world);
        await using var client = await RawSmtpClient.ConnectAsync(node.SmtpEndpoint);
        await client.CommandAsync("EHLO client.test");
        Assert.Equal(250, (await client.CommandAsync("MAIL FROM:<app@sender.test> SMTPUTF8")).Code);
        Assert.Equal(250, (await client.CommandAsync("RCPT TO:<δοκιμή@legacy.test>")).Code);
        await client.CommandAsync("DATA");
        Assert.Equal(250, (await client.CommandAsync("Subject: utf8\r\n\r\nhi\r\n.")).Code);

        // RFC 6531 §3.2: the next hop lacks SMTPUTF8, so the sender is told (5.6.7) rather than the address mangled.
        var bounce = Assert.Single(await senders.WaitForAsync(1, Patience));
        Assert.Equal(string.Empty, bounce.From);
        Assert.Contains("5.6.7", bounce.Text);
        Assert.Equal(0, legacy.MailCommands);
    }

    [Fact]
    public async Task RCPT_TO_postmaster_is_accepted_and_delivered_to_the_configured_address()
    {
        await using var world = LoopbackWorld.Create();
        var sink = world.AddDomain("alpha.test");
        await using var node = await TestNode.StartAsync(world, "--AyTrack:Listener:PostmasterAddress=hostmaster@alpha.test");
        await using var client = await RawSmtpClient.ConnectAsync(node.SmtpEndpoint);
        await client.CommandAsync("EHLO client.test");
        await client.CommandAsync("MAIL FROM:<app@sender.test>");

        Assert.Equal(250, (await client.CommandAsync("RCPT TO:<Postmaster>")).Code);
        await client.CommandAsync("DATA");
        Assert.Equal(250, (await client.CommandAsync("Subject: to the postmaster\r\n\r\nhi\r\n.")).Code);

        Assert.Equal(["hostmaster@alpha.test"], Assert.Single(await sink.WaitForAsync(1, Patience)).To);
    }

    [Fact]
    public async Task A_data_line_over_998_octets_is_refused_at_the_dot_with_550_5_6_0_and_never_accepted()
    {
        await using var world = LoopbackWorld.Create();
        var sink = world.AddDomain("alpha.test");
        await using var node = await TestNode.StartAsync(world);
        await using var client = await RawSmtpClient.StartDataAsync(node.SmtpEndpoint, "app@sender.test", "user@alpha.test");

        var reply = await client.CommandAsync("Subject: long\r\n\r\n" + new string('x', 999) + "\r\n.");

        Assert.Equal(550, reply.Code);
        Assert.StartsWith("5.6.0 ", reply.Text);
        Assert.Contains("998", reply.Text);
        Assert.Equal(0, (await node.Spool.CountAsync(CancellationToken.None)).Messages);
        // The session goes on: 998 octets are fine.
        await client.CommandAsync("MAIL FROM:<app@sender.test>");
        await client.CommandAsync("RCPT TO:<user@alpha.test>");
        await client.CommandAsync("DATA");
        Assert.Equal(250, (await client.CommandAsync("Subject: long enough\r\n\r\n" + new string('x', 998) + "\r\n.")).Code);
        Assert.Single(await sink.WaitForAsync(1, Patience));
    }

    [Fact]
    public async Task Twelve_hundred_pipelined_RCPTs_get_1000_oks_200_452s_and_the_message_is_accepted_for_the_1000()
    {
        await using var world = LoopbackWorld.Create();
        var sink = world.AddDomain("alpha.test");
        await using var node = await TestNode.StartAsync(world);
        await using var client = await RawSmtpClient.ConnectAsync(node.SmtpEndpoint);
        await client.CommandAsync("EHLO client.test");

        var batch = new StringBuilder("MAIL FROM:<app@sender.test>\r\n");
        for (var i = 0; i < 1200; i++)
        {
            batch.Append($"RCPT TO:<user{i}@alpha.test>\r\n");
        }

        batch.Append("DATA\r\n");
        // The replies are read while the commands are still being written, as a pipelining client must (RFC 2920 §3.1).
        var writing = client.WriteAsync(batch.ToString());
        var replies = new List<RawReply>();
        for (var i = 0; i < 1202; i++)
        {
            replies.Add(await client.ReadReplyAsync());
        }

        await writing;
        Assert.Equal(250, replies[0].Code);
        Assert.All(replies.Skip(1).Take(1000), r => Assert.Equal(250, r.Code));
        Assert.All(replies.Skip(1001).Take(200), r => Assert.Equal((452, "4.5.3"), (r.Code, r.Text[..5])));
        Assert.Equal(354, replies[^1].Code);
        Assert.Equal(250, (await client.CommandAsync("Subject: many\r\n\r\nhi\r\n.")).Code);

        Assert.Equal(1000, (await node.Spool.CountAsync(CancellationToken.None)).Recipients);
        var delivered = await sink.WaitForAsync(1, Patience);
        Assert.Contains("user0@alpha.test", delivered.SelectMany(m => m.To));
    }

    [Theory]
    [InlineData("MAIL FROM:<app@sender.test> SIZE=abc", 501)]
    [InlineData("MAIL FROM:<app@sender.test> SIZE=10 SIZE=10", 501)]
    [InlineData("MAIL FROM:<app@sender.test> BODY=BINARYMIME", 501)]
    [InlineData("MAIL FROM:<app@sender.test> RET=HDRS RET=FULL", 501)]
    [InlineData("MAIL FROM:<app@sender.test> AUTH=app+4", 501)]
    [InlineData("MAIL FROM:<app@sender.test> X-FOO=bar", 555)]
    public async Task Malformed_repeated_or_unknown_MAIL_parameters_get_501_or_555_5_5_4(string command, int expected)
    {
        await using var world = LoopbackWorld.Create();
        await using var node = await TestNode.StartAsync(world);
        await using var client = await RawSmtpClient.ConnectAsync(node.SmtpEndpoint);
        await client.CommandAsync("EHLO client.test");

        var reply = await client.CommandAsync(command);

        Assert.Equal(expected, reply.Code);
        Assert.StartsWith("5.5.4 ", reply.Text);
        Assert.Equal(250, (await client.CommandAsync("MAIL FROM:<app@sender.test> SIZE=100 BODY=8BITMIME")).Code);
        // RCPT takes the DSN extension's parameters (RFC 3461) and nothing else.
        Assert.Equal(250, (await client.CommandAsync("RCPT TO:<user@alpha.test> NOTIFY=NEVER")).Code);
        Assert.Equal(555, (await client.CommandAsync("RCPT TO:<other@alpha.test> X-BAR=1")).Code);
    }

    [Fact]
    public async Task Commands_out_of_sequence_get_503_and_unknown_ones_500()
    {
        await using var world = LoopbackWorld.Create();
        await using var node = await TestNode.StartAsync(world);
        await using var client = await RawSmtpClient.ConnectAsync(node.SmtpEndpoint);

        Assert.Equal(503, (await client.CommandAsync("MAIL FROM:<app@sender.test>")).Code);
        await client.CommandAsync("EHLO client.test");
        Assert.Equal(503, (await client.CommandAsync("RCPT TO:<user@alpha.test>")).Code);
        Assert.Equal(503, (await client.CommandAsync("DATA")).Code);
        Assert.Equal((500, "5.5.1"), await CodeOf(client, "FROB"));
        Assert.Equal((502, "5.5.1"), await CodeOf(client, "STARTTLS"));
        Assert.Equal((500, "5.5.1"), await CodeOf(client, "PROXY TCP4 127.0.0.9 127.0.0.1 1000 25"));
        Assert.Equal((501, "5.5.4"), await CodeOf(client, "EHLO"));
        Assert.Equal(250, (await client.CommandAsync("MAIL FROM:<app@sender.test>")).Code);
        Assert.Equal(503, (await client.CommandAsync("MAIL FROM:<app@sender.test>")).Code);
        Assert.Equal(554, (await client.CommandAsync("DATA")).Code);
        Assert.Equal(221, (await client.CommandAsync("QUIT")).Code);
    }

    private static async Task<(int, string)> CodeOf(RawSmtpClient client, string command)
    {
        var reply = await client.CommandAsync(command);
        return (reply.Code, reply.Text[..5]);
    }
}
