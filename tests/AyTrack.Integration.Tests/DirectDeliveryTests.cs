using AyTrack.Integration.Tests.Support;
using AyTrack.Loopback;
using SmtpServer.Protocol;
using Xunit;

namespace AyTrack.Integration.Tests;

/// <summary>Mail relayed to AyTrack over SMTP reaches the recipient domain's MX in the loopback world.</summary>
public sealed class DirectDeliveryTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_message_relayed_over_SMTP_arrives_at_the_first_MX()
    {
        // Story: one domain, two MX hosts; the preferred one (10) takes the message, the backup (20) sees nothing.
        await using var world = LoopbackWorld.Create();
        var primary = world.AddSink("mx1.alpha.test");
        var backup = world.AddSink("mx2.alpha.test");
        world.Dns.AddMx("alpha.test", 10, "mx1.alpha.test").AddMx("alpha.test", 20, "mx2.alpha.test");
        await using var node = await TestNode.StartAsync(world);

        var message = TestNode.NewMessage("app@sender.test", ["alice@alpha.test"], "first MX");
        var reply = await node.SendAsync(message);

        Assert.StartsWith("2.0.0 Ok: queued as ", reply);
        var received = Assert.Single(await primary.WaitForAsync(1, Patience));
        Assert.Equal("app@sender.test", received.From);
        Assert.Equal(["alice@alpha.test"], received.To);
        var delivered = received.Parse();
        Assert.Equal(message.MessageId, delivered.MessageId);
        Assert.Equal("first MX", delivered.Subject);
        Assert.StartsWith("Received: from ", received.Text);
        Assert.Empty(backup.Received);
    }

    [Fact]
    public async Task When_the_first_MX_refuses_connections_the_second_takes_the_message()
    {
        // Story: mx1 is down (nothing listens), mx2 accepts; the delivery log names the host that took it.
        await using var world = LoopbackWorld.Create();
        world.AddDownHost("mx1.beta.test");
        var backup = world.AddSink("mx2.beta.test");
        world.Dns.AddMx("beta.test", 10, "mx1.beta.test").AddMx("beta.test", 20, "mx2.beta.test");
        await using var node = await TestNode.StartAsync(world);

        await node.SendAsync(TestNode.NewMessage("app@sender.test", ["bob@beta.test"], "second MX"));

        Assert.Single(await backup.WaitForAsync(1, Patience));
        var log = await DeliveryLogReader.WaitForAsync(node.DataDir, "bob@beta.test", Patience);
        Assert.Equal("delivered", log.GetProperty("outcome").GetString());
        Assert.Equal("mx2.beta.test", log.GetProperty("mxHost").GetString());
    }

    [Fact]
    public async Task A_hung_first_MX_is_timed_out_and_the_next_one_is_used()
    {
        await using var world = LoopbackWorld.Create();
        var hung = world.AddSilentHost("mx1.gamma.test", drop: false);
        var backup = world.AddSink("mx2.gamma.test");
        world.Dns.AddMx("gamma.test", 10, "mx1.gamma.test").AddMx("gamma.test", 20, "mx2.gamma.test");
        await using var node = await TestNode.StartAsync(world, "--AyTrack:Delivery:CommandTimeout=00:00:01");

        await node.SendAsync(TestNode.NewMessage("app@sender.test", ["carol@gamma.test"], "hung MX"));

        Assert.Single(await backup.WaitForAsync(1, Patience));
        Assert.True(hung.Connections >= 1);
    }

    [Fact]
    public async Task A_domain_without_MX_records_is_delivered_to_its_own_address()
    {
        // RFC 5321 §5.1 implicit MX: no MX records, so the domain's A record is the mail host.
        await using var world = LoopbackWorld.Create();
        var sink = world.AddSink("implicit.test");
        await using var node = await TestNode.StartAsync(world);

        await node.SendAsync(TestNode.NewMessage("app@sender.test", ["dave@implicit.test"], "implicit MX"));

        Assert.Equal(["dave@implicit.test"], Assert.Single(await sink.WaitForAsync(1, Patience)).To);
    }

    [Fact]
    public async Task One_message_for_several_domains_goes_to_each_domains_MX_with_only_its_recipients()
    {
        await using var world = LoopbackWorld.Create();
        var alpha = world.AddDomain("alpha.test");
        var beta = world.AddDomain("beta.test");
        var gamma = world.AddDomain("gamma.test");
        await using var node = await TestNode.StartAsync(world);

        var message = TestNode.NewMessage("app@sender.test", ["a1@alpha.test", "a2@ALPHA.test", "b1@beta.test", "g1@gamma.test"], "fan out");
        await node.SendAsync(message);

        Assert.Equal(["a1@alpha.test", "a2@alpha.test"], Assert.Single(await alpha.WaitForAsync(1, Patience)).To.Order());
        Assert.Equal(["b1@beta.test"], Assert.Single(await beta.WaitForAsync(1, Patience)).To);
        Assert.Equal(["g1@gamma.test"], Assert.Single(await gamma.WaitForAsync(1, Patience)).To);
        Assert.All([alpha, beta, gamma], s => Assert.Equal(message.MessageId, s.Received[0].Parse().MessageId));
    }

    [Fact]
    public async Task Messages_queued_for_one_domain_share_one_session()
    {
        // Story: one connection per destination; the first message holds the session while 19 more queue up behind
        // it, and those 19 then travel together in one batch over the same session, kept open for the site's next batch.
        await using var world = LoopbackWorld.Create();
        var sink = world.AddDomain("reuse.test");
        var release = new TaskCompletionSource();
        var first = true;
        sink.BeforeAccept = () =>
        {
            if (!first)
            {
                return Task.CompletedTask;
            }

            first = false;
            return release.Task;
        };
        await using var node = await TestNode.StartAsync(world, "--AyTrack:Delivery:MaxConnectionsPerDestination=1");

        for (var i = 0; i < 20; i++)
        {
            await node.SendAsync(TestNode.NewMessage("app@sender.test", [$"user{i}@reuse.test"], $"reuse {i}"));
        }

        await Eventually.UntilAsync(async () => (await node.Spool.CountAsync(CancellationToken.None)).Undispatched == 0, Patience);
        release.SetResult();

        var received = await sink.WaitForAsync(20, Patience);
        Assert.Equal(20, received.Count);
        // The first session, kept open after its batch (the site's idle time), carries the other 19 as well.
        Assert.Single(received.Select(m => m.SessionId).Distinct());
        Assert.Equal(1, sink.SessionCount);
    }

    [Fact]
    public async Task STARTTLS_is_used_when_the_MX_offers_it_even_with_a_certificate_nobody_trusts()
    {
        // RFC 7435 opportunistic TLS: encrypt whenever offered; a self-signed certificate is fine for direct MX.
        await using var world = LoopbackWorld.Create();
        var sink = world.AddDomain("tls.test", SmtpSink.CreateCertificate("mx.tls.test"));
        await using var node = await TestNode.StartAsync(world);

        await node.SendAsync(TestNode.NewMessage("app@sender.test", ["erin@tls.test"], "over TLS"));

        Assert.True(Assert.Single(await sink.WaitForAsync(1, Patience)).Secure);
        var log = await DeliveryLogReader.WaitForAsync(node.DataDir, "erin@tls.test", Patience);
        Assert.True(log.GetProperty("tls").GetBoolean());
    }

    [Fact]
    public async Task Per_recipient_refusals_are_recorded_while_the_other_recipients_are_delivered()
    {
        await using var world = LoopbackWorld.Create();
        var sink = world.AddDomain("mixed.test");
        sink.RecipientReply = r => r.StartsWith("nobody@")
            ? new SmtpResponse(SmtpReplyCode.MailboxUnavailable, "5.1.1 No such user")
            : r.StartsWith("full@") ? new SmtpResponse(SmtpReplyCode.InsufficientStorage, "4.2.2 Mailbox full") : null;
        await using var node = await TestNode.StartAsync(world);

        await node.SendAsync(TestNode.NewMessage("app@sender.test", ["ok@mixed.test", "nobody@mixed.test", "full@mixed.test"], "mixed"));

        Assert.Equal(["ok@mixed.test"], Assert.Single(await sink.WaitForAsync(1, Patience)).To);
        var refused = await DeliveryLogReader.WaitForAsync(node.DataDir, "nobody@mixed.test", Patience);
        Assert.Equal("failed", refused.GetProperty("outcome").GetString());
        Assert.StartsWith("550 5.1.1 No such user", refused.GetProperty("reply").GetString());
        var full = await DeliveryLogReader.WaitForAsync(node.DataDir, "full@mixed.test", Patience);
        Assert.Equal("deferred", full.GetProperty("outcome").GetString());
        Assert.StartsWith("452 4.2.2", full.GetProperty("reply").GetString());
    }

    [Theory]
    [InlineData("nullmx.test", "failed", "556 5.1.10")] // RFC 7505 null MX: fails at once
    [InlineData("missing.test", "failed", "550 5.1.2")] // NXDOMAIN: the domain does not exist
    [InlineData("flaky.test", "deferred", "451 4.4.3")] // SERVFAIL may pass: temporary
    [InlineData("outside.test", "deferred", "451 4.4.1 mx.outside.test [192.0.2.25] is outside AyTrack:Delivery:AllowedDestinations")]
    public async Task Destinations_that_cannot_be_reached_get_the_outcome_and_RFC_3463_code_they_deserve(string domain, string outcome, string reply)
    {
        await using var world = LoopbackWorld.Create();
        world.Dns.AddNullMx("nullmx.test");
        world.Dns.AddServerFailure("flaky.test");
        // DNS points this domain at a public address; AllowedDestinations=127.0.0.0/8 must keep it from being contacted.
        world.Dns.AddMx("outside.test", 10, "mx.outside.test").AddAddress("mx.outside.test", System.Net.IPAddress.Parse("192.0.2.25"));
        await using var node = await TestNode.StartAsync(world);

        await node.SendAsync(TestNode.NewMessage("app@sender.test", [$"x@{domain}"], "undeliverable"));

        var log = await DeliveryLogReader.WaitForAsync(node.DataDir, $"x@{domain}", Patience);
        Assert.Equal(outcome, log.GetProperty("outcome").GetString());
        Assert.StartsWith(reply, log.GetProperty("reply").GetString());
    }

    [Fact]
    public async Task A_failed_TLS_handshake_retries_the_same_host_in_plain_text()
    {
        // Opportunistic TLS must not cost the message: the MX offers STARTTLS but only with a protocol version the
        // client will not speak, so the handshake fails and the same host is used again without TLS.
        await using var world = LoopbackWorld.Create();
#pragma warning disable SYSLIB0039 // An obsolete protocol is the point: the client refuses it.
        var sink = world.AddSink("mx.oldtls.test", SmtpSink.CreateCertificate("mx.oldtls.test"), System.Security.Authentication.SslProtocols.Tls11);
#pragma warning restore SYSLIB0039
        world.Dns.AddMx("oldtls.test", 10, "mx.oldtls.test");
        await using var node = await TestNode.StartAsync(world);

        await node.SendAsync(TestNode.NewMessage("app@sender.test", ["frank@oldtls.test"], "plain fallback"));

        Assert.False(Assert.Single(await sink.WaitForAsync(1, Patience)).Secure);
        Assert.Equal(2, sink.SessionCount);
        var log = await DeliveryLogReader.WaitForAsync(node.DataDir, "frank@oldtls.test", Patience);
        Assert.False(log.GetProperty("tls").GetBoolean());
    }

    [Fact]
    public async Task DNS_answers_are_cached_for_their_TTL()
    {
        await using var world = LoopbackWorld.Create();
        var sink = world.AddDomain("cached.test");
        await using var node = await TestNode.StartAsync(world);

        await node.SendAsync(TestNode.NewMessage("app@sender.test", ["one@cached.test"], "first"));
        await sink.WaitForAsync(1, Patience);
        var queriesAfterFirst = world.Dns.QueryCount;
        await node.SendAsync(TestNode.NewMessage("app@sender.test", ["two@cached.test"], "second"));
        await sink.WaitForAsync(2, Patience);

        Assert.True(queriesAfterFirst > 0);
        Assert.Equal(queriesAfterFirst, world.Dns.QueryCount);
    }
}
