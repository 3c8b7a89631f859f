using System.Net;
using System.Text;
using AyTrack.Core.Smtp;
using AyTrack.Core.Users;
using AyTrack.Smtp.Listener;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace AyTrack.Core.Tests;

/// <summary>The pure parts of SMTP AUTH: password hashes, SASL responses, users' rules and the authenticator's limits.</summary>
public sealed class SubmissionAuthTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 30, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void A_password_hash_verifies_its_password_only_and_never_contains_it()
    {
        var hash = PasswordHashing.Hash("correct horse battery", iterations: 1000);

        Assert.True(PasswordHashing.Verify("correct horse battery", hash));
        Assert.False(PasswordHashing.Verify("correct horse batterY", hash));
        Assert.DoesNotContain("correct", hash);
        Assert.StartsWith("pbkdf2-sha256$1000$", hash);
        Assert.NotEqual(hash, PasswordHashing.Hash("correct horse battery", iterations: 1000));
        Assert.StartsWith($"pbkdf2-sha256${PasswordHashing.Iterations}$", PasswordHashing.Hash("another password"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("plain-text")]
    [InlineData("pbkdf2-sha256$x$AAAA$AAAA")]
    [InlineData("pbkdf2-sha256$1000$!!!$AAAA")]
    [InlineData("md5$1000$AAAA$AAAA")]
    public void A_malformed_stored_hash_verifies_nothing(string stored) =>
        Assert.False(PasswordHashing.Verify("plain-text", stored));

    [Theory]
    [InlineData(null, "is required")]
    [InlineData("short", "at least 8")]
    [InlineData("has\0nul-inside", "control characters")]
    [InlineData("a long enough password", null)]
    public void Passwords_are_checked_before_hashing(string? password, string? problem)
    {
        var actual = PasswordHashing.Problem(password);
        if (problem is null)
        {
            Assert.Null(actual);
        }
        else
        {
            Assert.Contains(problem, actual);
        }

        Assert.NotNull(PasswordHashing.Problem(new string('x', PasswordHashing.MaxPasswordBytes + 1)));
    }

    [Fact]
    public void PLAIN_responses_are_split_strictly()
    {
        Assert.True(SaslResponses.TryParsePlain(Encoding.UTF8.GetBytes("\0app@example.test\0s3cret pass"), out var user, out var password, out _));
        Assert.Equal(("app@example.test", "s3cret pass"), (user, password));
        Assert.True(SaslResponses.TryParsePlain(Encoding.UTF8.GetBytes("app\0app\0pw"), out _, out _, out _));

        Assert.False(SaslResponses.TryParsePlain(Encoding.UTF8.GetBytes("other\0app\0pw"), out _, out _, out var asOther));
        Assert.Contains("authzid", asOther);
        Assert.False(SaslResponses.TryParsePlain(Encoding.UTF8.GetBytes("app\0pw"), out _, out _, out _));
        Assert.False(SaslResponses.TryParsePlain(Encoding.UTF8.GetBytes("\0\0pw"), out _, out _, out _));
        Assert.False(SaslResponses.TryParsePlain([0, 0x61, 0, 0xff, 0xfe], out _, out _, out var notUtf8));
        Assert.Contains("UTF-8", notUtf8);
    }

    [Theory]
    [InlineData("AGFwcABwdw==", true)]
    [InlineData("=", true)]
    [InlineData("not base64!", false)]
    [InlineData("AGFwcABwdw", false)]
    [InlineData("", false)]
    public void SASL_responses_must_be_base64(string response, bool ok) =>
        Assert.Equal(ok, SaslResponses.TryDecode(response, out _));

    [Theory]
    [InlineData("AUTH=<>", true)]
    [InlineData("AUTH=app+40example.test", true)]
    [InlineData("AUTH=app+4", false)]
    [InlineData("AUTH=", false)]
    public void MAIL_AUTH_takes_the_null_mailbox_or_xtext(string parameter, bool ok)
    {
        var supported = new HashSet<string>(["AUTH"]);
        var parsed = SmtpCommandParser.TryParsePath($"FROM:<a@b.test> {parameter}", isMail: true, supported, out _, out var error);
        Assert.Equal(ok, parsed);
        if (!ok)
        {
            Assert.Equal((501, "5.5.4"), (error.Code, error.Enhanced));
        }
    }

    [Fact]
    public void Sender_domains_limit_MAIL_FROM_exactly_and_none_allows_any()
    {
        var limited = new SubmissionUser("app", "h", ["example.test"], Now, Now);
        Assert.True(limited.MaySendFrom("news@Example.TEST"));
        Assert.True(limited.MaySendFrom(string.Empty));
        Assert.False(limited.MaySendFrom("news@other.test"));
        Assert.False(limited.MaySendFrom("news@sub.example.test"));
        Assert.True((limited with { SenderDomains = [] }).MaySendFrom("news@other.test"));
    }

    [Fact]
    public void Names_and_domains_are_checked()
    {
        Assert.Null(UserDirectory.NameProblem("app@example.test"));
        Assert.NotNull(UserDirectory.NameProblem("two words"));
        Assert.NotNull(UserDirectory.NameProblem(new string('a', 129)));
        Assert.NotNull(UserDirectory.NameProblem(""));
        Assert.True(UserDirectory.TryNormalizeDomains(["Example.TEST.", "example.test", "b.test"], out var domains, out _));
        Assert.Equal(["example.test", "b.test"], domains);
        Assert.False(UserDirectory.TryNormalizeDomains(["not a domain"], out _, out var problem));
        Assert.Contains("not a domain", problem);
    }

    [Fact]
    public async Task A_successful_login_is_remembered_until_the_password_changes()
    {
        var (live, clock, checks, authenticator) = Setup(out _);
        live.Update(1, [User("app", "first-password")]);

        Assert.Equal(AuthResult.Succeeded, (await authenticator.AuthenticateAsync("app", "first-password", default)).Result);
        Assert.Equal(AuthResult.Succeeded, (await authenticator.AuthenticateAsync("app", "first-password", default)).Result);
        Assert.Single(checks);

        live.Update(2, [User("app", "second-password")]);
        Assert.Equal(AuthResult.Failed, (await authenticator.AuthenticateAsync("app", "first-password", default)).Result);
        Assert.Equal(AuthResult.Succeeded, (await authenticator.AuthenticateAsync("app", "second-password", default)).Result);
        Assert.Equal(3, checks.Count);

        clock.Advance(TimeSpan.FromMinutes(11));
        Assert.Equal(AuthResult.Succeeded, (await authenticator.AuthenticateAsync("app", "second-password", default)).Result);
        Assert.Equal(4, checks.Count);
    }

    [Fact]
    public async Task An_unknown_user_costs_a_hash_check_like_a_known_one()
    {
        var (live, _, checks, authenticator) = Setup(out _);
        live.Update(1, [User("app", "first-password")]);

        Assert.Equal(AuthResult.Failed, (await authenticator.AuthenticateAsync("nobody", "first-password", default)).Result);
        Assert.Single(checks);
    }

    [Fact]
    public async Task Before_the_users_arrive_a_login_is_a_temporary_failure_not_a_wrong_password()
    {
        var (_, _, checks, authenticator) = Setup(out _);

        Assert.Equal(AuthResult.Busy, (await authenticator.AuthenticateAsync("app", "first-password", default)).Result);
        Assert.Empty(checks);
    }

    [Fact]
    public async Task At_most_two_hash_checks_run_at_once_and_a_third_gives_up_busy()
    {
        var gate = new ManualResetEventSlim(false);
        var running = new CountdownEvent(2);
        var live = new LiveUsers();
        live.Update(1, [User("app", "first-password")]);
        var authenticator = new SmtpAuthenticator(live, new FakeTimeProvider(Now), new AuthenticatorLimits { QueueWait = TimeSpan.FromMilliseconds(200) },
            (password, hash) =>
            {
                running.Signal();
                gate.Wait();
                return PasswordHashing.Verify(password, hash);
            });

        var first = Task.Run(() => authenticator.AuthenticateAsync("app", "first-password", default));
        var second = Task.Run(() => authenticator.AuthenticateAsync("app", "wrong-password", default));
        Assert.True(running.Wait(TimeSpan.FromSeconds(30)));

        var third = await authenticator.AuthenticateAsync("app", "first-password", default);
        Assert.Equal(AuthResult.Busy, third.Result);

        gate.Set();
        Assert.Equal(AuthResult.Succeeded, (await first).Result);
        Assert.Equal(AuthResult.Failed, (await second).Result);
    }

    [Fact]
    public void More_than_ten_failures_a_minute_lock_an_address_out_for_a_minute()
    {
        var (_, clock, _, authenticator) = Setup(out _);
        var client = IPAddress.Parse("192.0.2.7");
        for (var i = 0; i < 10; i++)
        {
            Assert.False(authenticator.RecordFailure(client));
        }

        Assert.False(authenticator.IsLockedOut(client));
        Assert.True(authenticator.RecordFailure(client));
        Assert.True(authenticator.IsLockedOut(client));
        Assert.False(authenticator.IsLockedOut(IPAddress.Parse("192.0.2.8")));

        clock.Advance(TimeSpan.FromSeconds(61));
        Assert.False(authenticator.IsLockedOut(client));
    }

    [Fact]
    public void Failures_spread_over_more_than_a_minute_do_not_lock_out()
    {
        var (_, clock, _, authenticator) = Setup(out _);
        var client = IPAddress.Parse("192.0.2.7");
        for (var i = 0; i < 30; i++)
        {
            Assert.False(authenticator.RecordFailure(client));
            clock.Advance(TimeSpan.FromSeconds(7));
        }
    }

    [Fact]
    public void An_IPv6_client_is_counted_by_its_slash_64()
    {
        var (_, _, _, authenticator) = Setup(out _);
        for (var i = 0; i < 11; i++)
        {
            authenticator.RecordFailure(IPAddress.Parse($"2001:db8:1:2::{i + 1:x}"));
        }

        Assert.True(authenticator.IsLockedOut(IPAddress.Parse("2001:db8:1:2::ffff")));
        Assert.False(authenticator.IsLockedOut(IPAddress.Parse("2001:db8:1:3::1")));
    }

    private static SubmissionUser User(string name, string password) =>
        new(name, PasswordHashing.Hash(password, iterations: 1000), [], Now, Now);

    private static (LiveUsers, FakeTimeProvider, List<string>, SmtpAuthenticator) Setup(out LiveUsers live)
    {
        live = new LiveUsers();
        var clock = new FakeTimeProvider(Now);
        var checks = new List<string>();
        var authenticator = new SmtpAuthenticator(live, clock, verify: (password, hash) =>
        {
            lock (checks)
            {
                checks.Add(password);
            }

            return PasswordHashing.Verify(password, hash);
        });
        return (live, clock, checks, authenticator);
    }
}
