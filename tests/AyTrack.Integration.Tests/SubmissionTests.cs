using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using AyTrack.Contracts;
using AyTrack.Integration.Tests.Support;
using AyTrack.Loopback;
using MailKit.Net.Smtp;
using MailKit.Security;
using Xunit;

namespace AyTrack.Integration.Tests;

/// <summary>
/// Submission from beyond the allowed networks: STARTTLS (RFC 3207) on the relay and submission listeners, implicit
/// TLS (RFC 8314), AUTH PLAIN and LOGIN (RFC 4954) against the cluster's users, with MailKit, swaks and raw commands.
/// The node here allows no network at all (192.0.2.0/24 only), so every accepted message is an authenticated one.
/// </summary>
public sealed class SubmissionTests : IAsyncLifetime
{
    private const string User = "app@sender.test";
    private const string Password = "correct horse battery";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private readonly string _files = Path.Combine(Path.GetTempPath(), "aytrack-tests", "submission-" + Guid.NewGuid().ToString("N"));
    private readonly TestCertificateAuthority _ca = new("AyTrack Submission Test CA");
    private LoopbackWorld _world = null!;
    private SmtpSink _sink = null!;
    private TestNode _node = null!;
    private string _certificatePath = null!;

    public async Task InitializeAsync()
    {
        _world = LoopbackWorld.Create();
        _sink = _world.AddDomain("alpha.test");
        (_certificatePath, var keyPath) = ListenerCertificates.WritePem(_ca, "submit-1.aytrack.test", _files);
        _node = await TestNode.StartAsync(_world,
            $"--AyTrack:Listener:Tls:CertificatePath={_certificatePath}",
            $"--AyTrack:Listener:Tls:KeyPath={keyPath}",
            "--AyTrack:Listener:AllowedNetworks:0=192.0.2.0/24",
            "--AyTrack:Listener:AuthFailureDelay=00:00:00.050",
            "--AyTrack:Submission:Endpoint=127.0.0.1:0",
            "--AyTrack:Submission:TlsEndpoint=127.0.0.1:0");
        var added = await _node.Http.PostAsJsonAsync("/api/users", new UserRequest(User, Password, ["sender.test"]));
        Assert.Equal(HttpStatusCode.Created, added.StatusCode);
    }

    public async Task DisposeAsync()
    {
        await _node.DisposeAsync();
        await _world.DisposeAsync();
        _ca.Dispose();
        Directory.Delete(_files, recursive: true);
    }

    [Fact]
    public async Task An_application_off_the_allowed_networks_submits_with_STARTTLS_and_AUTH_and_the_mail_is_delivered()
    {
        string? presented = null;
        using (var client = new SmtpClient())
        {
            client.ServerCertificateValidationCallback = (_, certificate, _, _) =>
            {
                presented = certificate?.Subject;
                return certificate?.Issuer == _ca.Certificate.Subject;
            };
            await client.ConnectAsync("127.0.0.1", _node.SubmissionEndpoint!.Port, SecureSocketOptions.StartTls);
            Assert.True(client.IsSecure);
            Assert.Contains("PLAIN", client.AuthenticationMechanisms);
            await client.AuthenticateAsync(User, Password);
            var message = TestNode.NewMessage(User, ["user@alpha.test"], "Submitted");
            var reply = await client.SendAsync(message);
            Assert.Contains("queued as", reply);
            await client.DisconnectAsync(true);
        }

        Assert.Equal("CN=submit-1.aytrack.test", presented);
        var delivered = Assert.Single(await _sink.WaitForAsync(1, Patience));
        var received = delivered.Parse().Headers.First(h => h.Field == "Received").Value;
        // RFC 3848: TLS and AUTH in the protocol name; the login itself is not disclosed to the recipients.
        Assert.Contains("with ESMTPSA", received);
        Assert.DoesNotContain(User, received);
        var line = await DeliveryLogReader.WaitForAsync(_node.DataDir, "user@alpha.test", Patience, "delivered");
        Assert.Equal(User, line.GetProperty("user").GetString());
    }

    [Fact]
    public async Task Without_AUTH_the_relay_listener_keeps_its_network_rule()
    {
        using var client = new SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
        await client.ConnectAsync("127.0.0.1", _node.SmtpEndpoint.Port, SecureSocketOptions.StartTls);
        var refused = await Assert.ThrowsAsync<SmtpCommandException>(() =>
            client.SendAsync(TestNode.NewMessage(User, ["user@alpha.test"], "Not authenticated")));
        Assert.Equal(554, (int)refused.StatusCode);
        Assert.Contains("Relay access denied", refused.Message);

        await client.AuthenticateAsync(User, Password);
        await client.SendAsync(TestNode.NewMessage(User, ["user@alpha.test"], "Authenticated on the relay listener"));
        Assert.Single(await _sink.WaitForAsync(1, Patience));
    }

    [Fact]
    public async Task The_submission_port_requires_STARTTLS_before_AUTH_and_AUTH_before_MAIL()
    {
        await using var client = await RawSmtpClient.ConnectAsync(_node.SubmissionEndpoint!);
        var ehlo = await client.CommandAsync("EHLO client.test");
        Assert.Contains("STARTTLS", ehlo.Text);
        Assert.DoesNotContain("AUTH", ehlo.Text);

        Assert.Equal("530 5.7.0 Must issue a STARTTLS command first", (await client.CommandAsync("AUTH PLAIN " + Plain(User, Password))).ToString());
        Assert.Equal(530, (await client.CommandAsync($"MAIL FROM:<{User}>")).Code);

        Assert.Equal(220, (await client.CommandAsync("STARTTLS")).Code);
        await client.StartTlsAsync();
        var secured = await client.CommandAsync("EHLO client.test");
        Assert.Contains("AUTH PLAIN LOGIN", secured.Text);
        Assert.DoesNotContain("STARTTLS", secured.Text);
        Assert.Equal("530 5.7.0 Authentication required", (await client.CommandAsync($"MAIL FROM:<{User}>")).ToString());

        Assert.Equal("235 2.7.0 Authentication successful", (await client.CommandAsync("AUTH PLAIN " + Plain(User, Password))).ToString());
        Assert.Equal(503, (await client.CommandAsync("AUTH PLAIN " + Plain(User, Password))).Code);
        Assert.Equal(250, (await client.CommandAsync($"MAIL FROM:<{User}> AUTH=<>")).Code);
    }

    [Fact]
    public async Task Commands_pipelined_after_STARTTLS_are_discarded_not_run_inside_TLS()
    {
        await using var client = await RawSmtpClient.ConnectAsync(_node.SmtpEndpoint);
        await client.CommandAsync("EHLO client.test");

        // The plaintext injection of CVE-2011-0411: a man in the middle appends a command after STARTTLS.
        await client.WriteAsync("STARTTLS\r\nMAIL FROM:<injected@sender.test>\r\n");
        Assert.Equal(220, (await client.ReadReplyAsync()).Code);
        await client.StartTlsAsync();

        // Had the injected MAIL been read inside TLS, its reply would come first; the first reply is EHLO's, and each
        // reply after it answers its own command.
        var ehlo = await client.CommandAsync("EHLO client.test");
        Assert.Equal(250, ehlo.Code);
        Assert.Contains("Hello client.test", ehlo.Text);
        Assert.Equal("250 2.0.0 Ok", (await client.CommandAsync("NOOP")).ToString());
        Assert.Equal("250 2.0.0 Ok", (await client.CommandAsync("RSET")).ToString());
    }

    [Fact]
    public async Task A_wrong_password_gets_535_and_a_user_name_guess_looks_the_same()
    {
        await using var client = await RawSmtpClient.ConnectAsync(_node.SubmissionTlsEndpoint!, implicitTls: true);
        Assert.Equal(220, client.Greeting.Code);
        await client.CommandAsync("EHLO client.test");

        Assert.Equal("535 5.7.8 Authentication credentials invalid", (await client.CommandAsync("AUTH PLAIN " + Plain(User, "wrong password"))).ToString());
        Assert.Equal("535 5.7.8 Authentication credentials invalid", (await client.CommandAsync("AUTH PLAIN " + Plain("nobody@sender.test", Password))).ToString());

        // LOGIN, the mechanism older clients use, with its two challenges.
        Assert.Equal("334 VXNlcm5hbWU6", (await client.CommandAsync("AUTH LOGIN")).ToString());
        Assert.Equal("334 UGFzc3dvcmQ6", (await client.CommandAsync(Convert.ToBase64String(Encoding.UTF8.GetBytes(User)))).ToString());
        Assert.Equal(235, (await client.CommandAsync(Convert.ToBase64String(Encoding.UTF8.GetBytes(Password)))).Code);
    }

    [Fact]
    public async Task A_login_limited_to_its_sender_domains_cannot_send_as_another_domain()
    {
        await using var client = await LoggedInAsync();

        var reply = await client.CommandAsync("MAIL FROM:<ceo@other.test>");
        Assert.Equal(553, reply.Code);
        Assert.StartsWith("5.7.1", reply.Text);
        Assert.Equal(250, (await client.CommandAsync("MAIL FROM:<news@sender.test>")).Code);
    }

    [Fact]
    public async Task AUTH_lines_may_be_12288_octets_and_longer_ones_get_500_5_5_6()
    {
        await using var client = await RawSmtpClient.ConnectAsync(_node.SubmissionTlsEndpoint!, implicitTls: true);
        await client.CommandAsync("EHLO client.test");

        // A 3,000-octet base64 response is within RFC 4954's 12,288 (and beyond the 2,048 of other commands).
        var longButValid = Convert.ToBase64String(Encoding.UTF8.GetBytes("\0" + User + "\0" + new string('p', 2200)));
        Assert.True(longButValid.Length > 2048);
        Assert.Equal(535, (await client.CommandAsync("AUTH PLAIN " + longButValid)).Code);

        Assert.Equal("500 5.5.6 Authentication exchange line is too long", (await client.CommandAsync("AUTH PLAIN " + new string('A', 13_000))).ToString());
        Assert.Equal(334, (await client.CommandAsync("AUTH PLAIN")).Code);
        Assert.Equal("500 5.5.6 Authentication exchange line is too long", (await client.CommandAsync(new string('A', 13_000))).ToString());
        Assert.Equal(500, (await client.CommandAsync("NOOP " + new string('x', 3000))).Code);
        Assert.Equal(250, (await client.CommandAsync("NOOP")).Code);
    }

    [Fact]
    public async Task More_than_ten_failures_a_minute_close_the_connection_and_refuse_the_address_for_a_minute()
    {
        await using (var client = await RawSmtpClient.ConnectAsync(_node.SubmissionTlsEndpoint!, implicitTls: true))
        {
            await client.CommandAsync("EHLO client.test");
            for (var i = 0; i < 10; i++)
            {
                Assert.Equal(535, (await client.CommandAsync("AUTH PLAIN " + Plain(User, $"guess {i:D4}"))).Code);
            }

            Assert.Equal("421 4.7.0 Too many failed authentications from your address, try again in a minute",
                (await client.CommandAsync("AUTH PLAIN " + Plain(User, "guess 0010"))).ToString());
            Assert.Empty(await client.ReadUntilClosedAsync(Patience));
        }

        // The right password does not help now: the address is refused at the greeting, on every listener.
        await using var again = await RawSmtpClient.ConnectAsync(_node.SubmissionTlsEndpoint!, implicitTls: true);
        Assert.Equal(421, again.Greeting.Code);
        await using var relay = await RawSmtpClient.ConnectAsync(_node.SmtpEndpoint);
        Assert.Equal(421, relay.Greeting.Code);
    }

    [Fact]
    public async Task A_certificate_replaced_on_disk_is_offered_to_the_next_connection_without_a_restart()
    {
        await using (var before = await RawSmtpClient.ConnectAsync(_node.SubmissionTlsEndpoint!, implicitTls: true))
        {
            Assert.Equal("submit-1.aytrack.test", ListenerCertificates.CommonName(before.ServerCertificate));
        }

        ListenerCertificates.WritePem(_ca, "submit-2.aytrack.test", _files);

        await Eventually.UntilAsync(async () =>
        {
            await using var after = await RawSmtpClient.ConnectAsync(_node.SubmissionTlsEndpoint!, implicitTls: true);
            return ListenerCertificates.CommonName(after.ServerCertificate) == "submit-2.aytrack.test";
        }, Patience);

        // STARTTLS on the other listeners takes the same certificate.
        await using var relay = await RawSmtpClient.ConnectAsync(_node.SmtpEndpoint);
        await relay.CommandAsync("EHLO client.test");
        Assert.Equal(220, (await relay.CommandAsync("STARTTLS")).Code);
        await relay.StartTlsAsync();
        Assert.Equal("submit-2.aytrack.test", ListenerCertificates.CommonName(relay.ServerCertificate));
    }

    [Fact]
    public async Task A_password_protected_PKCS12_certificate_serves_implicit_TLS()
    {
        var pkcs12 = ListenerCertificates.WritePkcs12(_ca, "pkcs12.aytrack.test", Path.Combine(_files, "p12"), "p12 password");
        await using var node = await TestNode.StartAsync(_world,
            $"--AyTrack:Listener:Tls:CertificatePath={pkcs12}",
            "--AyTrack:Listener:Tls:CertificatePassword=p12 password",
            "--AyTrack:Submission:TlsEndpoint=127.0.0.1:0");

        await using var client = await RawSmtpClient.ConnectAsync(node.SubmissionTlsEndpoint!, implicitTls: true);

        Assert.Equal(220, client.Greeting.Code);
        Assert.Equal("pkcs12.aytrack.test", ListenerCertificates.CommonName(client.ServerCertificate));
        Assert.Contains("AUTH PLAIN LOGIN", (await client.CommandAsync("EHLO client.test")).Text);
        Assert.Null(node.SubmissionEndpoint);
    }

    [Fact]
    public async Task A_client_that_never_finishes_its_TLS_handshake_is_closed_after_the_command_timeout()
    {
        var (certificate, key) = ListenerCertificates.WritePem(_ca, "slow.aytrack.test", Path.Combine(_files, "slow"));
        await using var node = await TestNode.StartAsync(_world,
            $"--AyTrack:Listener:Tls:CertificatePath={certificate}", $"--AyTrack:Listener:Tls:KeyPath={key}",
            "--AyTrack:Listener:CommandTimeout=00:00:02", "--AyTrack:Submission:TlsEndpoint=127.0.0.1:0");

        // Implicit TLS: connected, and not one octet of a ClientHello.
        using var silent = new System.Net.Sockets.TcpClient();
        await silent.ConnectAsync(node.SubmissionTlsEndpoint!);
        var buffer = new byte[64];
        Assert.Equal(0, await silent.GetStream().ReadAsync(buffer).AsTask().WaitAsync(Patience));

        // STARTTLS answered, then silence.
        await using var relay = await RawSmtpClient.ConnectAsync(node.SmtpEndpoint);
        await relay.CommandAsync("EHLO client.test");
        Assert.Equal(220, (await relay.CommandAsync("STARTTLS")).Code);
        Assert.Empty(await relay.ReadUntilClosedAsync(Patience));
    }

    [Fact]
    public async Task Swaks_submits_with_STARTTLS_and_AUTH_and_a_wrong_password_fails()
    {
        var good = await SwaksAsync(Password);
        Assert.True(good.Exit == 0, good.Output);
        Assert.Contains("235 2.7.0", good.Output);
        Assert.Single(await _sink.WaitForAsync(1, Patience));

        var bad = await SwaksAsync("not the password");
        Assert.NotEqual(0, bad.Exit);
        Assert.Contains("535 5.7.8", bad.Output);
    }

    private async Task<(int Exit, string Output)> SwaksAsync(string password)
    {
        var start = new ProcessStartInfo("swaks")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in new[]
                 {
                     "--server", "127.0.0.1", "--port", _node.SubmissionEndpoint!.Port.ToString(), "--tls", "--auth", "PLAIN",
                     "--auth-user", User, "--auth-password", password, "--from", User, "--to", "user@alpha.test", "--helo", "client.test",
                     "--header", "Subject: swaks submission", "--timeout", "30",
                 })
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        return (process.ExitCode, await output + await error);
    }

    private async Task<RawSmtpClient> LoggedInAsync()
    {
        var client = await RawSmtpClient.ConnectAsync(_node.SubmissionTlsEndpoint!, implicitTls: true);
        await client.CommandAsync("EHLO client.test");
        Assert.Equal(235, (await client.CommandAsync("AUTH PLAIN " + Plain(User, Password))).Code);
        return client;
    }

    private static string Plain(string user, string password) => Convert.ToBase64String(Encoding.UTF8.GetBytes($"\0{user}\0{password}"));
}
