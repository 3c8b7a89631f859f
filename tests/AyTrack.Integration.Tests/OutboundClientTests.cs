using System.Text;
using AyTrack.Integration.Tests.Support;
using AyTrack.Loopback;
using Xunit;

namespace AyTrack.Integration.Tests;

/// <summary>
/// The outbound SMTP client against receiving hosts that say exactly what a test scripts: the bytes that arrive, the
/// extensions it uses or leaves alone, and what a misbehaving or hostile server costs (a deferral with the reason,
/// never a stuck worker or a message sent where it should not be).
/// </summary>
public sealed class OutboundClientTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private static string Ordinary(string command, string ehlo) => command.Split(' ')[0].ToUpperInvariant() switch
    {
        "EHLO" => ehlo,
        "DATA" => "354 End data with <CR><LF>.<CR><LF>\r\n",
        ScriptedHost.EndOfData => "250 2.0.0 Ok: queued\r\n",
        "QUIT" => "221 2.0.0 Bye\r\n",
        _ => "250 2.0.0 Ok\r\n",
    };

    private static async Task SendRawAsync(TestNode node, string mailFrom, string rcptTo, string stuffedData)
    {
        await using var client = await RawSmtpClient.ConnectAsync(node.SmtpEndpoint);
        await client.CommandAsync("EHLO client.test");
        Assert.Equal(250, (await client.CommandAsync(mailFrom)).Code);
        Assert.Equal(250, (await client.CommandAsync(rcptTo)).Code);
        Assert.Equal(354, (await client.CommandAsync("DATA")).Code);
        Assert.Equal(250, (await client.CommandAsync(stuffedData + "\r\n.")).Code);
    }

    [Fact]
    public async Task The_accepted_bytes_arrive_unchanged_dot_stuffed_with_8BITMIME_and_SIZE()
    {
        await using var world = LoopbackWorld.Create();
        var host = world.AddScriptedDomain("wire.test", c => Ordinary(c, "250-scripted.test\r\n250-8BITMIME\r\n250-PIPELINING\r\n250 SIZE 1000000\r\n"));
        await using var node = await TestNode.StartAsync(world);

        // As the client wrote it on the wire: a line that starts with a dot and a line that is only a dot, both
        // stuffed, and 8-bit text. The node stores them unstuffed and must stuff them again, byte for byte.
        const string body = "Message-ID: <wire@sender.test>\r\nSubject: wire\r\n\r\n..leading dot\r\n..\r\ncaf\u00e9 \u00fcber\r\nlast line";
        await SendRawAsync(node, "MAIL FROM:<app@sender.test> BODY=8BITMIME", "RCPT TO:<bob@wire.test>", body);

        await DeliveryLogReader.WaitForAsync(node.DataDir, "bob@wire.test", Patience, outcome: "delivered");
        var data = Encoding.UTF8.GetString(Assert.Single(host.Data));
        Assert.EndsWith("\r\nMessage-ID: <wire@sender.test>\r\nSubject: wire\r\n\r\n..leading dot\r\n..\r\ncaf\u00e9 \u00fcber\r\nlast line\r\n.\r\n", data);
        Assert.StartsWith("Received: ", data);
        var mail = Assert.Single(host.Commands, c => c.StartsWith("MAIL FROM:", StringComparison.Ordinal));
        Assert.Matches(@"^MAIL FROM:<app@sender\.test> SIZE=\d+ BODY=8BITMIME$", mail);
    }

    [Fact]
    public async Task A_server_without_EHLO_gets_HELO_and_no_extension_parameters()
    {
        await using var world = LoopbackWorld.Create();
        var host = world.AddScriptedDomain("old.test", c => c.StartsWith("EHLO", StringComparison.Ordinal)
            ? "502 5.5.2 Error: command not recognized\r\n"
            : c.StartsWith("HELO", StringComparison.Ordinal) ? "250 old.test\r\n" : Ordinary(c, ""));
        await using var node = await TestNode.StartAsync(world);

        await SendRawAsync(node, "MAIL FROM:<app@sender.test> RET=HDRS ENVID=e1", "RCPT TO:<bob@old.test> NOTIFY=SUCCESS ORCPT=rfc822;bob@old.test",
            "Subject: old\r\n\r\nhello");

        await DeliveryLogReader.WaitForAsync(node.DataDir, "bob@old.test", Patience, outcome: "delivered");
        var commands = host.Commands;
        Assert.Contains(commands, c => c.StartsWith("HELO ", StringComparison.Ordinal));
        Assert.Contains("MAIL FROM:<app@sender.test>", commands);
        Assert.Contains("RCPT TO:<bob@old.test>", commands);
    }

    [Theory]
    [InlineData("flood", "more than 100 lines")]
    [InlineData("long line", "longer than 4096 bytes")]
    [InlineData("not a reply", "not an SMTP reply")]
    [InlineData("starttls injection", "ahead of the TLS handshake")]
    public async Task A_hostile_server_costs_a_deferral_with_the_reason(string behaviour, string reason)
    {
        await using var world = LoopbackWorld.Create();
        var ehlo = behaviour switch
        {
            "flood" => string.Concat(Enumerable.Range(0, 150).Select(i => $"250-X{i}\r\n")) + "250 END\r\n",
            "long line" => "250-" + new string('x', 100_000) + "\r\n250 OK\r\n",
            "not a reply" => "hello, friend\r\n",
            _ => "250-hostile.test\r\n250 STARTTLS\r\n",
        };
        var host = world.AddScriptedDomain("hostile.test", c => c == "STARTTLS"
            ? "220 2.0.0 Ready to start TLS\r\n250-injected as if after TLS\r\n"
            : Ordinary(c, ehlo));
        await using var node = await TestNode.StartAsync(world);

        await SendRawAsync(node, "MAIL FROM:<app@sender.test>", "RCPT TO:<bob@hostile.test>", "Subject: hostile\r\n\r\nhello");

        var entry = await DeliveryLogReader.WaitForAsync(node.DataDir, "bob@hostile.test", Patience, outcome: "deferred");
        Assert.Contains(reason, entry.GetProperty("reply").GetString());
        Assert.DoesNotContain(host.Commands, c => c.StartsWith("MAIL", StringComparison.Ordinal));
        Assert.Empty(host.Data);
    }

    [Fact]
    public async Task A_421_in_the_transaction_defers_with_the_servers_words_and_earlier_refusals_stand()
    {
        await using var world = LoopbackWorld.Create();
        var closing = false;
        var host = world.AddScriptedDomain("closing.test", c =>
        {
            if (Volatile.Read(ref closing))
            {
                return null;
            }

            if (c.StartsWith("RCPT TO:<absent@", StringComparison.Ordinal))
            {
                return "550 5.1.1 No such user\r\n";
            }

            if (c.StartsWith("RCPT TO:<busy@", StringComparison.Ordinal))
            {
                Volatile.Write(ref closing, true);
                return "421 4.7.0 Too busy, closing connection\r\n";
            }

            return Ordinary(c, "250-closing.test\r\n250 PIPELINING\r\n");
        });
        await using var node = await TestNode.StartAsync(world);

        await node.SendAsync(TestNode.NewMessage("app@sender.test", ["absent@closing.test", "busy@closing.test"], "closing"));

        var refused = await DeliveryLogReader.WaitForAsync(node.DataDir, "absent@closing.test", Patience, outcome: "failed");
        Assert.StartsWith("550 5.1.1 No such user", refused.GetProperty("reply").GetString());
        var deferred = await DeliveryLogReader.WaitForAsync(node.DataDir, "busy@closing.test", Patience, outcome: "deferred");
        Assert.StartsWith("421 4.7.0 Too busy, closing connection", deferred.GetProperty("reply").GetString());
        Assert.Empty(host.Data);
    }

    [Fact]
    public async Task A_message_larger_than_the_servers_SIZE_fails_without_being_sent()
    {
        await using var world = LoopbackWorld.Create();
        var host = world.AddScriptedDomain("small.test", c => Ordinary(c, "250-small.test\r\n250 SIZE 2000\r\n"));
        await using var node = await TestNode.StartAsync(world);

        await node.SendAsync(TestNode.NewMessage("app@sender.test", ["bob@small.test"], "large", new string('x', 5000)));

        var entry = await DeliveryLogReader.WaitForAsync(node.DataDir, "bob@small.test", Patience, outcome: "failed");
        Assert.StartsWith("552 5.3.4 ", entry.GetProperty("reply").GetString());
        Assert.Contains("larger than mx.small.test takes (2000 bytes)", entry.GetProperty("reply").GetString());
        Assert.DoesNotContain(host.Commands, c => c.StartsWith("MAIL", StringComparison.Ordinal));
    }
}
