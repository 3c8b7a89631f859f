using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using AyTrack.Integration.Tests.Support;
using AyTrack.Loopback;
using Xunit;

namespace AyTrack.Integration.Tests;

/// <summary>The admin HTTP API: token, health, and injection of messages by applications.</summary>
public sealed class AdminApiTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task The_api_needs_the_bearer_token_and_healthz_does_not()
    {
        await using var world = LoopbackWorld.Create();
        await using var node = await TestNode.StartAsync(world);
        using var anonymous = new HttpClient { BaseAddress = node.AdminUrl };

        var withoutToken = await anonymous.PostAsync("/api/messages?to=a@alpha.test", Raw("Subject: x\r\n\r\nx\r\n"));
        anonymous.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "not-the-token");
        var wrongToken = await anonymous.PostAsync("/api/messages?to=a@alpha.test", Raw("Subject: x\r\n\r\nx\r\n"));
        var health = await new HttpClient { BaseAddress = node.AdminUrl }.GetAsync("/healthz");

        Assert.Equal(HttpStatusCode.Unauthorized, withoutToken.StatusCode);
        Assert.Equal("Bearer", withoutToken.Headers.WwwAuthenticate.Single().Scheme);
        Assert.Equal(HttpStatusCode.Unauthorized, wrongToken.StatusCode);
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Equal(0, (await node.Spool.CountAsync(CancellationToken.None)).Messages);
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void The_generated_admin_token_file_is_readable_by_its_owner_only()
    {
        var dir = Directory.CreateTempSubdirectory("aytrack-token").FullName;
        var token = AyTrack.Node.Admin.AdminToken.Load(string.Empty, dir);
        var again = AyTrack.Node.Admin.AdminToken.Load(string.Empty, dir);

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(token.FilePath!));
        var text = File.ReadAllText(token.FilePath!);
        Assert.True(text.Length >= 40);
        Assert.True(again.Accepts($"Bearer {text}"));
        Assert.DoesNotContain(text, token.ToString());
        Directory.Delete(dir, true);
    }

    [Fact]
    public async Task An_injected_message_is_accepted_with_202_and_delivered_byte_for_byte()
    {
        await using var world = LoopbackWorld.Create();
        var sink = world.AddDomain("alpha.test");
        await using var node = await TestNode.StartAsync(world);
        const string original = "From: App <app@sender.test>\r\nTo: a@alpha.test\r\nSubject: =?utf-8?q?gr=C3=BC=C3=9Fe?=\r\n" +
                                "Message-ID: <inject-1@sender.test>\r\nDKIM-Signature: v=1; a=rsa-sha256; d=sender.test; b=abc\r\n" +
                                "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
                                "Grüße — 8-bit body kept as it was.\r\n.leading dot line\r\n";

        var response = await node.Http.PostAsync("/api/messages?from=app@sender.test&to=a@alpha.test", Raw(original));

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("<inject-1@sender.test>", body.GetProperty("messageId").GetString());
        Assert.False(string.IsNullOrEmpty(body.GetProperty("id").GetString()));
        var received = Assert.Single(await sink.WaitForAsync(1, Patience));
        Assert.Equal("app@sender.test", received.From);
        // Only a Received trace header is prepended; every byte of the original follows unchanged.
        Assert.StartsWith("Received: from api ", received.Text);
        Assert.EndsWith(original, received.Text);
    }

    [Fact]
    public async Task An_injected_message_without_Message_ID_gets_one_and_LF_line_endings_become_CRLF()
    {
        await using var world = LoopbackWorld.Create();
        var sink = world.AddDomain("alpha.test");
        await using var node = await TestNode.StartAsync(world);

        var response = await node.Http.PostAsync("/api/messages?from=&to=a@alpha.test&to=b@alpha.test",
            Raw("Subject: from a script\n\nline one\nline two\n"));

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var messageId = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("messageId").GetString()!;
        var received = Assert.Single(await sink.WaitForAsync(1, Patience));
        Assert.Equal(string.Empty, received.From);
        Assert.Equal(["a@alpha.test", "b@alpha.test"], received.To.Order());
        Assert.Equal(messageId.Trim('<', '>'), received.Parse().MessageId);
        Assert.Contains("line one\r\nline two\r\n", received.Text);
    }

    [Fact]
    public async Task Invalid_injection_requests_get_400_naming_each_field_and_queue_nothing()
    {
        await using var world = LoopbackWorld.Create();
        await using var node = await TestNode.StartAsync(world);

        var response = await node.Http.PostAsync("/api/messages?from=not-an-address&to=bad@&to=ok@alpha.test",
            new StringContent("Subject: x\r\n\r\nx\r\n", Encoding.UTF8, "text/plain"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        var errors = problem.GetProperty("errors");
        Assert.True(errors.TryGetProperty("from", out _));
        Assert.True(errors.TryGetProperty("to", out _));
        Assert.True(errors.TryGetProperty("Content-Type", out _));
        Assert.Equal(0, (await node.Spool.CountAsync(CancellationToken.None)).Messages);
    }

    private static ByteArrayContent Raw(string message)
    {
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(message));
        content.Headers.ContentType = new MediaTypeHeaderValue("message/rfc822");
        return content;
    }
}
