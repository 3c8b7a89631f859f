using System.Net;
using System.Text;
using AyTrack.Integration.Tests.Support;
using AyTrack.Loopback;
using Xunit;

namespace AyTrack.Integration.Tests;

/// <summary>
/// What a hostile or merely slow client meets at the listener: every limit answers with its reply, the session (or the
/// node) goes on, and nothing it sent is held beyond the limits.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class ListenerLimitsTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_command_line_over_the_limit_gets_500_5_5_2_and_the_session_continues()
    {
        await using var world = LoopbackWorld.Create();
        var sink = world.AddDomain("alpha.test");
        await using var node = await TestNode.StartAsync(world);
        await using var client = await RawSmtpClient.ConnectAsync(node.SmtpEndpoint);
        await client.CommandAsync("EHLO client.test");

        // 4 MB of one line, written in pieces: the listener discards it as it arrives.
        await client.WriteAsync("MAIL FROM:<");
        var piece = Encoding.ASCII.GetBytes(new string('a', 64 * 1024));
        for (var i = 0; i < 64; i++)
        {
            await client.WriteAsync(piece);
        }

        var reply = await client.CommandAsync("@sender.test>");

        Assert.Equal(500, reply.Code);
        Assert.StartsWith("5.5.2 Line too long", reply.Text);
        Assert.Equal(250, (await client.CommandAsync("MAIL FROM:<app@sender.test>")).Code);
        Assert.Equal(250, (await client.CommandAsync("RCPT TO:<user@alpha.test>")).Code);
        await client.CommandAsync("DATA");
        Assert.Equal(250, (await client.CommandAsync("Subject: after a long line\r\n\r\nhi\r\n.")).Code);
        Assert.Single(await sink.WaitForAsync(1, Patience));
    }

    [Fact]
    public async Task Data_beyond_the_memory_budget_spills_to_a_private_file_that_is_gone_after_the_reply()
    {
        await using var world = LoopbackWorld.Create();
        var sink = world.AddDomain("alpha.test");
        await using var node = await TestNode.StartAsync(world, "--AyTrack:Listener:MaxBufferedData=65536");
        await using var client = await RawSmtpClient.StartDataAsync(node.SmtpEndpoint, "app@sender.test", "user@alpha.test");

        var body = new StringBuilder("Subject: spilled\r\n\r\n");
        for (var i = 0; body.Length < 2_000_000; i++)
        {
            body.Append($"line {i:D7} ").Append('x', 60).Append("\r\n");
        }

        await client.WriteAsync(body.ToString()[..1_000_000]);
        // Part of the data is in: it is on disk in incoming/, readable by the node's user only.
        var incoming = Path.Combine(node.DataDir, "incoming");
        string? spill = null;
        await Eventually.UntilAsync(() => (spill = Directory.Exists(incoming) ? Directory.GetFiles(incoming).SingleOrDefault() : null) is not null, Patience);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(spill!));
        var reply = await client.CommandAsync(body.ToString()[1_000_000..] + ".");

        Assert.Equal(250, reply.Code);
        Assert.Empty(Directory.GetFiles(incoming));
        var received = Assert.Single(await sink.WaitForAsync(1, Patience));
        Assert.EndsWith(body.ToString(), received.Text);
    }

    [Fact]
    public async Task Spill_files_left_by_a_crash_are_removed_at_start()
    {
        await using var world = LoopbackWorld.Create();
        var dataDir = Directory.CreateTempSubdirectory("aytrack-spill").FullName;
        var incoming = Directory.CreateDirectory(Path.Combine(dataDir, "incoming")).FullName;
        var leftover = Path.Combine(incoming, "0123456789abcdef.eml");
        await File.WriteAllTextAsync(leftover, "half a message from a node that crashed during DATA");

        await using var node = await TestNode.StartInAsync(world, dataDir);

        Assert.False(File.Exists(leftover));
    }

    [Fact]
    public async Task Data_past_the_size_limit_is_discarded_as_it_arrives_and_answered_552_at_the_dot()
    {
        await using var world = LoopbackWorld.Create();
        await using var node = await TestNode.StartAsync(world, "--AyTrack:Listener:MaxMessageSize=100000", "--AyTrack:Listener:MaxBufferedData=65536");
        await using var client = await RawSmtpClient.StartDataAsync(node.SmtpEndpoint, "app@sender.test", "user@alpha.test");

        var line = Encoding.ASCII.GetBytes(new string('x', 78) + "\r\n");
        var chunk = Enumerable.Repeat(line, 1000).SelectMany(l => l).ToArray();
        for (var i = 0; i < 100; i++)
        {
            await client.WriteAsync(chunk);
        }

        var reply = await client.CommandAsync(".");

        Assert.Equal(552, reply.Code);
        Assert.StartsWith("5.3.4 ", reply.Text);
        Assert.Equal(250, (await client.CommandAsync("NOOP")).Code);
        Assert.Empty(Directory.GetFiles(Path.Combine(node.DataDir, "incoming")));
        Assert.Equal(0, (await node.Spool.CountAsync(CancellationToken.None)).Messages);
    }

    [Fact]
    public async Task A_slow_client_within_the_data_timeout_delivers_and_an_idle_one_gets_421_4_4_2()
    {
        await using var world = LoopbackWorld.Create();
        var sink = world.AddDomain("alpha.test");
        await using var node = await TestNode.StartAsync(world, "--AyTrack:Listener:DataTimeout=00:00:02", "--AyTrack:Listener:CommandTimeout=00:00:02");
        await using var slow = await RawSmtpClient.StartDataAsync(node.SmtpEndpoint, "app@sender.test", "user@alpha.test");

        // 250 KB at 50 KB/s: five seconds in all, longer than either timeout, but never 2 s without data.
        var line = new string('y', 98) + "\r\n";
        var piece = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat(line, 100)));
        await slow.WriteAsync("Subject: slow\r\n\r\n");
        for (var i = 0; i < 25; i++)
        {
            await slow.WriteAsync(piece);
            await Task.Delay(200);
        }

        Assert.Equal(250, (await slow.CommandAsync(".")).Code);
        Assert.Single(await sink.WaitForAsync(1, Patience));

        await using var idle = await RawSmtpClient.ConnectAsync(node.SmtpEndpoint);
        await idle.CommandAsync("EHLO client.test");
        var last = await idle.ReadUntilClosedAsync(Patience);
        Assert.Equal(["421 4.4.2 Timeout, closing the connection"], last);
    }

    [Fact]
    public async Task A_client_that_stops_in_the_middle_of_its_data_gets_421_4_4_2_and_nothing_is_queued()
    {
        await using var world = LoopbackWorld.Create();
        await using var node = await TestNode.StartAsync(world, "--AyTrack:Listener:DataTimeout=00:00:01");
        await using var client = await RawSmtpClient.StartDataAsync(node.SmtpEndpoint, "app@sender.test", "user@alpha.test");
        await client.WriteAsync("Subject: never finished\r\n\r\nhalf a mess");

        Assert.Equal(["421 4.4.2 Timeout, closing the connection"], await client.ReadUntilClosedAsync(Patience));
        Assert.Equal(0, (await node.Spool.CountAsync(CancellationToken.None)).Messages);
    }

    [Fact]
    public async Task Connections_over_the_per_client_or_total_limit_get_421_4_7_0()
    {
        await using var world = LoopbackWorld.Create();
        await using var node = await TestNode.StartAsync(world, "--AyTrack:Listener:MaxConnectionsPerClient=2", "--AyTrack:Listener:MaxConnections=3");
        var a = IPAddress.Parse("127.0.0.1");
        await using var first = await RawSmtpClient.ConnectAsync(node.SmtpEndpoint, a);
        await using var second = await RawSmtpClient.ConnectAsync(node.SmtpEndpoint, a);
        await using var third = await RawSmtpClient.ConnectAsync(node.SmtpEndpoint, a);
        await using var other = await RawSmtpClient.ConnectAsync(node.SmtpEndpoint, IPAddress.Parse("127.0.0.2"));
        await using var another = await RawSmtpClient.ConnectAsync(node.SmtpEndpoint, IPAddress.Parse("127.0.0.3"));

        Assert.Equal([220, 220, 421, 220, 421], new[] { first, second, third, other, another }.Select(c => c.Greeting.Code));
        Assert.StartsWith("4.7.0 Too many connections", third.Greeting.Text);
        Assert.Empty(await third.ReadUntilClosedAsync(Patience));

        // A slot given back is a slot free again.
        Assert.Equal(221, (await second.CommandAsync("QUIT")).Code);
        await Eventually.UntilAsync(async () =>
        {
            await using var again = await RawSmtpClient.ConnectAsync(node.SmtpEndpoint, a);
            return again.Greeting.Code == 220;
        }, Patience);
    }

    [Fact]
    public async Task More_than_twenty_protocol_errors_end_the_session_with_421_but_policy_refusals_do_not_count()
    {
        await using var world = LoopbackWorld.Create();
        await using var node = await TestNode.StartAsync(world, "--AyTrack:Listener:MaxRecipients=1");
        await using var client = await RawSmtpClient.ConnectAsync(node.SmtpEndpoint);
        await client.CommandAsync("EHLO client.test");
        await client.CommandAsync("MAIL FROM:<app@sender.test>");
        await client.CommandAsync("RCPT TO:<user@alpha.test>");
        for (var i = 0; i < 50; i++)
        {
            Assert.Equal(452, (await client.CommandAsync($"RCPT TO:<more{i}@alpha.test>")).Code);
        }

        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(500, (await client.CommandAsync("FROB")).Code);
        }

        var last = await client.CommandAsync("FROB");
        Assert.Equal(421, last.Code);
        Assert.StartsWith("4.7.0 ", last.Text);
    }

    [Fact]
    public async Task A_PROXY_header_is_honoured_only_from_ProxyProtocolFrom_and_names_the_client()
    {
        await using var world = LoopbackWorld.Create();
        var sink = world.AddDomain("alpha.test");
        await using var node = await TestNode.StartAsync(world, "--AyTrack:Listener:ProxyProtocolFrom:0=127.0.0.1/32",
            "--AyTrack:Listener:AllowedNetworks:0=127.0.0.60/32");

        // v1 from the trusted proxy, for a client in AllowedNetworks: it may relay, and the trace names it.
        await using (var proxied = await RawSmtpClient.ConnectAsync(node.SmtpEndpoint, IPAddress.Loopback,
                         "PROXY TCP4 127.0.0.60 127.0.0.1 40000 25\r\n"u8.ToArray()))
        {
            Assert.Equal(220, proxied.Greeting.Code);
            await proxied.CommandAsync("EHLO client.test");
            Assert.Equal(250, (await proxied.CommandAsync("MAIL FROM:<app@sender.test>")).Code);
            await proxied.CommandAsync("RCPT TO:<user@alpha.test>");
            await proxied.CommandAsync("DATA");
            Assert.Equal(250, (await proxied.CommandAsync("Subject: proxied\r\n\r\nhi\r\n.")).Code);
            Assert.Contains("([127.0.0.60])", Assert.Single(await sink.WaitForAsync(1, Patience)).Text);
        }

        // v2 naming a client outside AllowedNetworks: refused as that client.
        byte[] v2 = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x21, 0x11, 0, 12, 127, 0, 0, 61, 127, 0, 0, 1, 0x9C, 0x40, 0, 25];
        await using (var outsider = await RawSmtpClient.ConnectAsync(node.SmtpEndpoint, IPAddress.Loopback, v2))
        {
            await outsider.CommandAsync("EHLO client.test");
            var refused = await outsider.CommandAsync("MAIL FROM:<app@sender.test>");
            Assert.Equal(554, refused.Code);
            Assert.Contains("127.0.0.61", refused.Text);
        }

        // A garbled header from the proxy: 421 and closed, never read as SMTP.
        await using (var garbled = await RawSmtpClient.ConnectAsync(node.SmtpEndpoint, IPAddress.Loopback, "PROXY TCP4 nonsense\r\n"u8.ToArray()))
        {
            Assert.Equal(421, garbled.Greeting.Code);
        }

        // From an address not in ProxyProtocolFrom, PROXY is just an unknown command.
        await using var direct = await RawSmtpClient.ConnectAsync(node.SmtpEndpoint, IPAddress.Parse("127.0.0.60"));
        Assert.Equal(500, (await direct.CommandAsync("PROXY TCP4 127.0.0.1 127.0.0.1 40000 25")).Code);
        await direct.CommandAsync("EHLO client.test");
        Assert.Equal(250, (await direct.CommandAsync("MAIL FROM:<app@sender.test>")).Code);
    }

    [Theory]
    [InlineData("--AyTrack:Listener:MaxLineLength=100", "AyTrack:Listener:MaxLineLength")]
    [InlineData("--AyTrack:Listener:MaxConnections=0", "AyTrack:Listener:MaxConnections")]
    [InlineData("--AyTrack:Listener:ProxyProtocolFrom:0=not-a-network", "AyTrack:Listener:ProxyProtocolFrom")]
    [InlineData("--AyTrack:Listener:PostmasterAddress=nobody", "AyTrack:Listener:PostmasterAddress")]
    public async Task An_invalid_listener_setting_stops_the_start_naming_the_key(string argument, string key)
    {
        await using var world = LoopbackWorld.Create();
        var error = await Assert.ThrowsAnyAsync<Exception>(async () => await TestNode.StartAsync(world, argument));
        Assert.Contains(key, error.ToString());
    }
}
