using AyTrack.Core.MtaSts;
using Xunit;

namespace AyTrack.Core.Tests;

public sealed class MtaStsTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 30, 12, 0, 0, TimeSpan.Zero);

    private static MtaStsPolicy Parse(string text)
    {
        Assert.True(MtaStsPolicy.TryParse(text, "id1", Now, out var policy, out var error), error);
        return policy!;
    }

    [Fact]
    public void The_rfc_example_policy_parses_with_crlf_or_lf_and_unknown_keys_are_ignored()
    {
        var policy = Parse("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n");
        Assert.Equal(MtaStsMode.Enforce, policy.Mode);
        Assert.Equal(["mail.example.com", "*.example.net", "backupmx.example.com"], policy.Mx);
        Assert.Equal(Now.AddDays(7), policy.ExpiresAt);
        Assert.Equal(MtaStsMode.Testing, Parse("version: STSv1\nmode: testing\nmx: MX.Example.com.\nmax_age: 86400\nextension: whatever\n").Mode);
        Assert.Equal(MtaStsMode.None, Parse("version: STSv1\nmode: none\nmax_age: 86400\n").Mode);
    }

    [Theory]
    [InlineData("mode: enforce\nmx: a.example.com\nmax_age: 1\n", "version")]
    [InlineData("version: STSv2\nmode: enforce\nmx: a.example.com\nmax_age: 1\n", "version")]
    [InlineData("version: STSv1\nmode: strict\nmx: a.example.com\nmax_age: 1\n", "mode")]
    [InlineData("version: STSv1\nmode: enforce\nmax_age: 86400\n", "no mx")]
    [InlineData("version: STSv1\nmode: enforce\nmx: a.example.com\n", "max_age")]
    [InlineData("version: STSv1\nmode: enforce\nmx: a.example.com\nmax_age: 31557601\n", "max_age")]
    [InlineData("version: STSv1\nmode: enforce\nmx: a.example.com\nmax_age: -5\n", "max_age")]
    [InlineData("version: STSv1\nmode: enforce\nmx: a b.example.com\nmax_age: 5\n", "mx")]
    [InlineData("<html>not a policy</html>", "key: value")]
    public void A_malformed_policy_is_refused_with_the_reason(string text, string reason)
    {
        Assert.False(MtaStsPolicy.TryParse(text, "id1", Now, out _, out var error));
        Assert.Contains(reason, error);
    }

    [Theory]
    [InlineData("mail.example.com", true)]
    [InlineData("MAIL.example.com.", true)]
    [InlineData("mx1.example.net", true)]
    [InlineData("example.net", false)]
    [InlineData("a.b.example.net", false)]
    [InlineData("evil-mail.example.com", false)]
    [InlineData("mail.example.com.evil.test", false)]
    public void Mx_patterns_match_names_and_one_leftmost_wildcard_label(string host, bool matches)
    {
        var policy = Parse("version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\nmax_age: 86400\n");
        Assert.Equal(matches, policy.MatchesMx(host));
    }

    [Fact]
    public void The_txt_record_gives_the_id_only_when_there_is_exactly_one_valid_record()
    {
        Assert.Equal("20160831085700Z", MtaStsRecord.FindId(["v=STSv1; id=20160831085700Z;"]));
        Assert.Equal("abc", MtaStsRecord.FindId(["v=spf1 -all", "v=STSv1;id=abc"]));
        Assert.Null(MtaStsRecord.FindId([]));
        Assert.Null(MtaStsRecord.FindId(["v=STSv1; id=a;", "v=STSv1; id=b;"]));
        Assert.Null(MtaStsRecord.FindId(["v=STSv1; id=not-alnum;"]));
        Assert.Null(MtaStsRecord.FindId(["v=STSv1; id=" + new string('a', 33)]));
        Assert.Null(MtaStsRecord.FindId(["v=STSv1;"]));
    }

    [Fact]
    public void A_new_id_fetches_a_missing_record_does_not_and_a_failed_fetch_keeps_the_cached_policy()
    {
        var cached = Parse("version: STSv1\nmode: enforce\nmx: a.example.com\nmax_age: 86400\n");
        Assert.True(MtaStsRules.NeedsFetch("id1", null, Now));
        Assert.False(MtaStsRules.NeedsFetch("id1", cached, Now));
        Assert.True(MtaStsRules.NeedsFetch("id2", cached, Now));
        Assert.True(MtaStsRules.NeedsFetch("id1", cached, Now.AddDays(2)));
        Assert.False(MtaStsRules.NeedsFetch(null, cached, Now));

        // The record gone, or the fetch failed: the cached policy holds until it expires.
        Assert.Same(cached, MtaStsRules.InForce(cached, null, Now.AddHours(23)));
        Assert.Null(MtaStsRules.InForce(cached, null, Now.AddDays(1)));
        var none = Parse("version: STSv1\nmode: none\nmax_age: 86400\n");
        Assert.Null(MtaStsRules.InForce(cached, none, Now));
        var testing = Parse("version: STSv1\nmode: testing\nmx: a.example.com\nmax_age: 60\n");
        Assert.Same(testing, MtaStsRules.InForce(cached, testing, Now));
    }
}
