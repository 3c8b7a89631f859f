using AyTrack.Integration.Tests.Support;
using AyTrack.Loopback;
using MimeKit;
using SmtpServer.Protocol;
using Xunit;

namespace AyTrack.Integration.Tests;

/// <summary>
/// The DSN extension (RFC 3461) end to end: the listener takes RET, ENVID, NOTIFY and ORCPT, keeps them with the
/// message, passes them to a next hop that supports DSN, and honours them in the reports it writes itself.
/// </summary>
public sealed class DsnExtensionTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData("MAIL FROM:<a@sender.test> RET=BODY", "RET")]
    [InlineData("MAIL FROM:<a@sender.test> RET=FULL RET=HDRS", "RET given more than once")]
    [InlineData("MAIL FROM:<a@sender.test> ENVID=bad+zz", "ENVID")]
    [InlineData("RCPT TO:<b@alpha.test> NOTIFY=NEVER,SUCCESS", "NEVER cannot be combined")]
    [InlineData("RCPT TO:<b@alpha.test> NOTIFY=SOMETIMES", "NOTIFY")]
    [InlineData("RCPT TO:<b@alpha.test> NOTIFY=FAILURE,FAILURE", "each once")]
    [InlineData("RCPT TO:<b@alpha.test> ORCPT=b@alpha.test", "addr-type;xtext")]
    [InlineData("RCPT TO:<b@alpha.test> ORCPT=rfc822;", "ORCPT")]
    public async Task Malformed_dsn_parameters_get_501_5_5_4(string command, string problem)
    {
        await using var world = LoopbackWorld.Create();
        await using var node = await TestNode.StartAsync(world);
        await using var client = await RawSmtpClient.ConnectAsync(node.SmtpEndpoint);
        var ehlo = await client.CommandAsync("EHLO client.test");
        Assert.Contains("DSN", ehlo.Text);
        if (command.StartsWith("RCPT", StringComparison.Ordinal))
        {
            Assert.Equal(250, (await client.CommandAsync("MAIL FROM:<a@sender.test>")).Code);
        }

        var reply = await client.CommandAsync(command);
        Assert.Equal(501, reply.Code);
        Assert.StartsWith("5.5.4 ", reply.Text);
        Assert.Contains(problem, reply.Text);
    }

    [Fact]
    public async Task A_next_hop_with_DSN_gets_the_parameters_one_without_gets_nothing_and_the_sender_a_relayed_notice()
    {
        await using var world = LoopbackWorld.Create();
        var senders = world.AddDomain("sender.test");
        var capable = world.AddLegacyDomain("capable.test", "DSN");
        world.AddDomain("plain.test");
        await using var node = await TestNode.StartAsync(world);

        foreach (var domain in new[] { "capable.test", "plain.test" })
        {
            await using var client = await RawSmtpClient.ConnectAsync(node.SmtpEndpoint);
            await client.CommandAsync("EHLO client.test");
            Assert.Equal(250, (await client.CommandAsync("MAIL FROM:<app@sender.test> RET=HDRS ENVID=batch+2B42")).Code);
            Assert.Equal(250, (await client.CommandAsync($"RCPT TO:<bob@{domain}> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Bob+40{domain}")).Code);
            Assert.Equal(250, (await client.CommandAsync($"RCPT TO:<carol@{domain}>")).Code);
            Assert.Equal(354, (await client.CommandAsync("DATA")).Code);
            Assert.Equal(250, (await client.CommandAsync($"Message-ID: <dsn-{domain}@sender.test>\r\nSubject: dsn\r\n\r\nhello\r\n.")).Code);
        }

        // The DSN-capable next hop saw the sender's parameters, as the sender wrote them (xtext).
        await Eventually.UntilAsync(() => capable.Messages == 1, Patience);
        var commands = capable.Commands;
        Assert.Contains(commands, c => c.StartsWith("MAIL FROM:<app@sender.test>", StringComparison.Ordinal) && c.Contains(" RET=HDRS") && c.Contains(" ENVID=batch+2B42"));
        // ORCPT goes on as the client gave it (RFC 3461 §4.2): its type, and its address as xtext.
        Assert.Contains(commands, c => c == "RCPT TO:<bob@capable.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Bob@capable.test");
        Assert.Contains(commands, c => c == "RCPT TO:<carol@capable.test>");

        // The one without DSN cannot report further: the sender gets "relayed" for bob (who asked), nothing for carol.
        var notice = Assert.Single(await senders.WaitForAsync(1, Patience)).Parse();
        Assert.Equal("Successful Mail Delivery Report", notice.Subject);
        var status = notice.BodyParts.OfType<MessageDeliveryStatus>().Single();
        Assert.Equal("batch+2B42", status.StatusGroups[0]["Original-Envelope-Id"]);
        // (MimeKit reads the blank line that ends the last group as one more, empty group.)
        var recipient = Assert.Single(status.StatusGroups.Skip(1), g => g.Count > 0);
        Assert.Equal("rfc822; bob@plain.test", recipient["Final-Recipient"]);
        Assert.Equal("rfc822; Bob@plain.test", recipient["Original-Recipient"]);
        Assert.Equal("relayed", recipient["Action"]);
        Assert.Equal("2.0.0", recipient["Status"]);
    }

    [Fact]
    public async Task The_injection_api_takes_the_same_parameters_and_refuses_bad_ones_naming_the_field()
    {
        await using var world = LoopbackWorld.Create();
        var senders = world.AddDomain("sender.test");
        world.AddDomain("plain.test");
        await using var node = await TestNode.StartAsync(world);

        static ByteArrayContent Message()
        {
            var content = new ByteArrayContent("Subject: via the API\r\n\r\nhello\r\n"u8.ToArray());
            content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("message/rfc822");
            return content;
        }

        foreach (var (query, field) in new[]
                 {
                     ("from=app@sender.test&to=bob@plain.test&ret=BODY", "ret"),
                     ("from=app@sender.test&to=bob@plain.test&envid=" + new string('x', 101), "envid"),
                     ("from=app@sender.test&to=" + Uri.EscapeDataString("bob@plain.test NOTIFY=NEVER,SUCCESS"), "to"),
                     ("from=app@sender.test&to=" + Uri.EscapeDataString("bob@plain.test COLOUR=red"), "to"),
                 })
        {
            var refused = await node.Http.PostAsync($"/api/messages?{query}", Message());
            Assert.Equal(System.Net.HttpStatusCode.BadRequest, refused.StatusCode);
            Assert.Contains($"\"{field}\"", await refused.Content.ReadAsStringAsync());
        }

        var accepted = await node.Http.PostAsync("/api/messages?from=app@sender.test&envid=api-1&to=" +
                                                 Uri.EscapeDataString("bob@plain.test NOTIFY=SUCCESS ORCPT=rfc822;bob+40old.test"), Message());
        Assert.Equal(System.Net.HttpStatusCode.Accepted, accepted.StatusCode);

        var notice = Assert.Single(await senders.WaitForAsync(1, Patience)).Parse();
        var status = notice.BodyParts.OfType<MessageDeliveryStatus>().Single();
        Assert.Equal("api-1", status.StatusGroups[0]["Original-Envelope-Id"]);
        Assert.Equal("rfc822; bob@old.test", status.StatusGroups[1]["Original-Recipient"]);
        Assert.Equal("relayed", status.StatusGroups[1]["Action"]);
    }

    [Fact]
    public async Task Failure_reports_honour_NEVER_RET_FULL_and_show_ENVID_and_ORCPT()
    {
        await using var world = LoopbackWorld.Create();
        var senders = world.AddDomain("sender.test");
        var target = world.AddDomain("target.test");
        target.RecipientReply = _ => new SmtpResponse((SmtpReplyCode)550, "5.1.1 no such user");
        await using var node = await TestNode.StartAsync(world);

        await using (var client = await RawSmtpClient.ConnectAsync(node.SmtpEndpoint))
        {
            await client.CommandAsync("EHLO client.test");
            Assert.Equal(250, (await client.CommandAsync("MAIL FROM:<app@sender.test> RET=FULL ENVID=order-17")).Code);
            Assert.Equal(250, (await client.CommandAsync("RCPT TO:<quiet@target.test> NOTIFY=NEVER")).Code);
            Assert.Equal(250, (await client.CommandAsync("RCPT TO:<loud@target.test> ORCPT=rfc822;loud@old.test")).Code);
            Assert.Equal(354, (await client.CommandAsync("DATA")).Code);
            Assert.Equal(250, (await client.CommandAsync("Message-ID: <full@sender.test>\r\nSubject: give it back\r\n\r\nthe whole body\r\n.")).Code);
        }

        var report = Assert.Single(await senders.WaitForAsync(1, Patience)).Parse();
        var status = report.BodyParts.OfType<MessageDeliveryStatus>().Single();
        Assert.Equal("order-17", status.StatusGroups[0]["Original-Envelope-Id"]);
        var failed = Assert.Single(status.StatusGroups.Skip(1), g => g.Count > 0);
        Assert.Equal("rfc822; loud@target.test", failed["Final-Recipient"]);
        Assert.Equal("rfc822; loud@old.test", failed["Original-Recipient"]);
        // RET=FULL: the whole message comes back, body included.
        var returned = report.BodyParts.OfType<MessagePart>().Single().Message;
        Assert.Equal("give it back", returned!.Subject);
        Assert.Contains("the whole body", returned.TextBody);

        var quiet = await DeliveryLogReader.WaitForAsync(node.DataDir, "quiet@target.test", Patience, outcome: "failed-not-bounced");
        Assert.Equal("InvalidRecipient", quiet.GetProperty("category").GetString());
    }
}
