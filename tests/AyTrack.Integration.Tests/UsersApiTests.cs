using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using AyTrack.Cli;
using AyTrack.Contracts;
using AyTrack.Integration.Tests.Support;
using AyTrack.Loopback;
using Xunit;

namespace AyTrack.Integration.Tests;

/// <summary>/api/users and `aytrack users`: the submission logins, as an operator manages them.</summary>
public sealed class UsersApiTests
{
    private const string Password = "correct horse battery";

    [Fact]
    public async Task Users_are_added_changed_and_removed_and_no_answer_ever_carries_a_password_or_its_hash()
    {
        await using var world = LoopbackWorld.Create();
        await using var node = await TestNode.StartAsync(world, "--AyTrack:Listener:AllowPlaintextAuth=true");

        var added = await node.Http.PostAsJsonAsync("/api/users", new UserRequest("app@sender.test", Password, ["Sender.TEST."]));
        Assert.Equal(HttpStatusCode.Created, added.StatusCode);
        var view = (await added.Content.ReadFromJsonAsync<UserView>())!;
        Assert.Equal(["sender.test"], view.SenderDomains);

        var list = await node.Http.GetStringAsync("/api/users");
        Assert.Contains("app@sender.test", list);
        Assert.DoesNotContain(Password, list);
        Assert.DoesNotContain("pbkdf2", list);
        Assert.DoesNotContain("pbkdf2", await added.Content.ReadAsStringAsync());

        Assert.Equal(235, await LoginAsync(node, "app@sender.test", Password));

        var changed = await node.Http.PutAsJsonAsync("/api/users/app@sender.test/password", new PasswordRequest("another good password"));
        Assert.Equal(HttpStatusCode.OK, changed.StatusCode);
        Assert.Equal(535, await LoginAsync(node, "app@sender.test", Password));
        Assert.Equal(235, await LoginAsync(node, "app@sender.test", "another good password"));

        var domains = await node.Http.PutAsJsonAsync("/api/users/app@sender.test/sender-domains", new SenderDomainsRequest([]));
        Assert.Empty((await domains.Content.ReadFromJsonAsync<UserView>())!.SenderDomains);

        Assert.Equal(HttpStatusCode.NoContent, (await node.Http.DeleteAsync("/api/users/app@sender.test")).StatusCode);
        Assert.Equal(535, await LoginAsync(node, "app@sender.test", "another good password"));
        Assert.Equal(HttpStatusCode.NotFound, (await node.Http.DeleteAsync("/api/users/app@sender.test")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await node.Http.PutAsJsonAsync("/api/users/nobody/password", new PasswordRequest(Password))).StatusCode);
    }

    [Theory]
    [InlineData("{\"name\":\"app\",\"password\":\"short\"}", "password")]
    [InlineData("{\"name\":\"two words\",\"password\":\"correct horse battery\"}", "name")]
    [InlineData("{\"password\":\"correct horse battery\"}", "name")]
    [InlineData("{\"name\":\"app\",\"password\":\"correct horse battery\",\"senderDomains\":[\"not a domain\"]}", "senderDomains")]
    public async Task An_invalid_user_gets_400_naming_the_field(string body, string field)
    {
        await using var world = LoopbackWorld.Create();
        await using var node = await TestNode.StartAsync(world);

        var response = await node.Http.PostAsync("/api/users", new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var errors = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("errors");
        Assert.True(errors.TryGetProperty(field, out _), errors.ToString());
        Assert.Empty((await node.Http.GetFromJsonAsync<List<UserView>>("/api/users"))!);
    }

    [Fact]
    public async Task A_second_user_of_the_same_name_is_refused()
    {
        await using var world = LoopbackWorld.Create();
        await using var node = await TestNode.StartAsync(world);
        Assert.Equal(HttpStatusCode.Created, (await node.Http.PostAsJsonAsync("/api/users", new UserRequest("app", Password, null))).StatusCode);

        var again = await node.Http.PostAsJsonAsync("/api/users", new UserRequest("app", "another good password", null));

        Assert.Equal(HttpStatusCode.BadRequest, again.StatusCode);
        Assert.Contains("exists already", await again.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task The_cli_adds_with_the_password_from_stdin_lists_and_removes_and_users_survive_a_restart()
    {
        await using var world = LoopbackWorld.Create();
        var dataDir = Path.Combine(Path.GetTempPath(), "aytrack-tests", Guid.NewGuid().ToString("N"));
        await using (var node = await TestNode.StartInAsync(world, dataDir, "--AyTrack:Listener:AllowPlaintextAuth=true"))
        {
            node.KeepDataDir = true;
            var add = await RunAsync(node, Password + "\n", "users", "add", "app@sender.test", "--password-stdin", "--sender-domain", "sender.test",
                "--sender-domain", "news.sender.test");
            Assert.True(add.Exit == 0, add.Err);
            Assert.Contains("may send from sender.test, news.sender.test", add.Out);

            var noPassword = await RunAsync(node, string.Empty, "users", "add", "other@sender.test");
            Assert.NotEqual(0, noPassword.Exit);
            Assert.Contains("--password-stdin", noPassword.Err);

            var shortPassword = await RunAsync(node, "short\n", "users", "add", "other@sender.test", "--password-stdin");
            Assert.NotEqual(0, shortPassword.Exit);
            Assert.Contains("password", shortPassword.Err);
        }

        await using (var restarted = await TestNode.StartInAsync(world, dataDir, "--AyTrack:Listener:AllowPlaintextAuth=true"))
        {
            var list = await RunAsync(restarted, string.Empty, "users", "list");
            Assert.Contains("app@sender.test", list.Out);
            Assert.Contains("sender.test, news.sender.test", list.Out);
            Assert.DoesNotContain("other@sender.test", list.Out);
            await Eventually.UntilAsync(async () => await LoginAsync(restarted, "app@sender.test", Password) == 235, TimeSpan.FromSeconds(30));

            var passwd = await RunAsync(restarted, "another good password\n", "users", "passwd", "app@sender.test", "--password-stdin");
            Assert.True(passwd.Exit == 0, passwd.Err);
            Assert.Equal(235, await LoginAsync(restarted, "app@sender.test", "another good password"));

            var remove = await RunAsync(restarted, string.Empty, "users", "remove", "app@sender.test");
            Assert.True(remove.Exit == 0, remove.Err);
            Assert.DoesNotContain("app@sender.test", (await RunAsync(restarted, string.Empty, "users", "list")).Out);
        }
    }

    [Fact]
    public async Task A_failed_login_is_logged_with_the_address_and_the_name_never_with_the_password()
    {
        await using var world = LoopbackWorld.Create();
        var dataDir = Path.Combine(Path.GetTempPath(), "aytrack-tests", Guid.NewGuid().ToString("N"));
        await using var node = await NodeProcess.StartAsync(dataDir, [.. world.NodeArguments(dataDir), "--AyTrack:Listener:AllowPlaintextAuth=true"]);
        using var admin = node.CreateAdminClient();
        Assert.Equal(HttpStatusCode.Created, (await admin.PostAsJsonAsync("/api/users", new UserRequest("app@sender.test", Password, null))).StatusCode);

        const string wrong = "Wrong-Secret-4711";
        await using (var client = await RawSmtpClient.ConnectAsync(node.SmtpEndpoint))
        {
            await client.CommandAsync("EHLO client.test");
            Assert.Equal(535, (await client.CommandAsync("AUTH PLAIN " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"\0app@sender.test\0{wrong}")))).Code);
            Assert.Equal(235, (await client.CommandAsync("AUTH PLAIN " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"\0app@sender.test\0{Password}")))).Code);
        }

        await Eventually.UntilAsync(() => Task.FromResult(NodeProcess.ReadLogs(dataDir).Contains("authenticated as app@sender.test")), TimeSpan.FromSeconds(30));
        var logs = NodeProcess.ReadLogs(dataDir);
        Assert.Contains("SMTP client 127.0.0.1 failed to authenticate as 'app@sender.test'", logs);
        Assert.Contains("AllowPlaintextAuth is on", logs);
        Assert.DoesNotContain(wrong, logs);
        Assert.DoesNotContain(Password, logs);
        Assert.DoesNotContain("pbkdf2", logs);
    }

    private static Task<(int Exit, string Out, string Err)> RunAsync(TestNode node, string stdin, params string[] args) => node.CliAsync(stdin, args);

    /// <summary>AUTH PLAIN on the relay listener (plaintext AUTH allowed for this loopback test); the reply code.</summary>
    private static async Task<int> LoginAsync(TestNode node, string user, string password)
    {
        await using var client = await RawSmtpClient.ConnectAsync(node.SmtpEndpoint);
        await client.CommandAsync("EHLO client.test");
        var plain = Convert.ToBase64String(Encoding.UTF8.GetBytes($"\0{user}\0{password}"));
        return (await client.CommandAsync("AUTH PLAIN " + plain)).Code;
    }
}
