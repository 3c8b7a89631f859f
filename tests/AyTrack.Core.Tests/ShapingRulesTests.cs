using AyTrack.Core.Bounces;
using AyTrack.Core.Shaping;
using Xunit;

namespace AyTrack.Core.Tests;

/// <summary>The traffic-shaping rules: durations and rates, the file's schema and its errors, sites and what applies to them.</summary>
public sealed class ShapingRulesTests
{
    private static readonly (int, int) ConfiguredDefaults = (10, 50);

    [Theory]
    [InlineData("30s", 30)]
    [InlineData("15m", 900)]
    [InlineData("2h", 7200)]
    [InlineData("1d", 86400)]
    [InlineData("30d", 2592000)]
    public void Durations_are_a_number_and_a_unit(string text, int seconds)
    {
        Assert.True(ShapingDuration.TryParse(text, out var duration));
        Assert.Equal(TimeSpan.FromSeconds(seconds), duration);
        Assert.Equal(text, ShapingDuration.Format(duration));
    }

    [Theory]
    [InlineData("")]
    [InlineData("30")]
    [InlineData("0s")]
    [InlineData("-5m")]
    [InlineData("1.5h")]
    [InlineData("31d")]
    [InlineData("99999999999d")]
    [InlineData("15 m")]
    public void Anything_else_is_not_a_duration(string text) => Assert.False(ShapingDuration.TryParse(text, out _));

    [Fact]
    public void Rates_are_per_minute_or_per_hour()
    {
        Assert.True(MessageRate.TryParse("20/m", out var perMinute));
        Assert.Equal(1200, perMinute.PerHour);
        Assert.True(MessageRate.TryParse("600/h", out var perHour));
        Assert.Equal("600/h", perHour.ToString());
        Assert.False(MessageRate.TryParse("0/h", out _));
        Assert.False(MessageRate.TryParse("10/s", out _));
    }

    [Fact]
    public void The_shipped_rules_load_and_give_Gmail_its_own_limits_and_others_the_configured_defaults()
    {
        var rules = ShapingRulesFile.Defaults;

        var gmail = rules.For("example.com", ["ALT1.ASPMX.L.GOOGLE.COM.", "aspmx.l.google.com"], ConfiguredDefaults);
        Assert.Equal("alt1.aspmx.l.google.com,aspmx.l.google.com", gmail.Site);
        Assert.Equal((20, 100), (gmail.ConnectionLimit, gmail.MessagesPerConnection));
        Assert.Equal(["default", "google"], gmail.From);
        Assert.Equal(TimeSpan.FromSeconds(30), gmail.IdleConnectionTimeout);

        var other = rules.For("small.test", ["mx.small.test"], ConfiguredDefaults);
        Assert.Equal((10, 50), (other.ConnectionLimit, other.MessagesPerConnection));
        Assert.Equal(["default"], other.From);

        // The same servers are one site whatever the domain.
        Assert.Equal(gmail.Site, rules.For("other.example", ["aspmx.l.google.com", "alt1.aspmx.l.google.com"], ConfiguredDefaults).Site);
        Assert.Equal("no-mx.test", ShapingRules.SiteOf("no-mx.test", []));
    }

    [Fact]
    public void Automation_rules_match_a_category_and_the_reply_text_most_specific_first()
    {
        var gmail = ShapingRulesFile.Defaults.For("example.com", ["aspmx.l.google.com"], ConfiguredDefaults);
        var reply = "421 4.7.28 Our system has detected an unusual rate of unsolicited mail originating from your IP address";

        var first = gmail.Automation.First(a => a.Matches(BounceCategory.RateLimited, reply));
        Assert.Equal(("google-unsolicited-rate", AutomationAction.Suspend, TimeSpan.FromMinutes(30)), (first.Name, first.Action, first.For));
        var generic = gmail.Automation.First(a => a.Matches(BounceCategory.RateLimited, "421 4.7.0 Too many connections"));
        Assert.Equal(("rate-limited", AutomationAction.Reduce, 1), (generic.Name, generic.Action, generic.ConnectionLimit));
        Assert.DoesNotContain(gmail.Automation, a => a.Matches(BounceCategory.MailboxFull, reply));
    }

    [Fact]
    public void Cluster_wide_limits_are_shared_by_the_up_nodes_and_never_drop_below_one()
    {
        var (rules, _) = ShapingRulesFile.Parse("""
            entries:
              - name: big
                match: { domain: big.test }
                connectionLimit: 10
                maxMessageRate: 100/m
                clusterWide: true
            """, "test.yaml");
        var shaping = rules.For("big.test", ["mx.big.test"], ConfiguredDefaults);

        Assert.Equal(10, shaping.ConnectionLimitOnNode(1));
        Assert.Equal(3, shaping.ConnectionLimitOnNode(3));
        Assert.Equal(1, shaping.ConnectionLimitOnNode(20));
        Assert.Equal(33, shaping.MaxMessageRateOnNode(3)!.Value.Messages);
        Assert.Equal(10, (shaping with { ClusterWide = false }).ConnectionLimitOnNode(3));
    }

    [Fact]
    public void Later_entries_override_earlier_ones_field_by_field()
    {
        var (rules, _) = ShapingRulesFile.Parse("""
            entries:
              - name: all
                match: default
                connectionLimit: 4
                idleConnectionTimeout: 1m
              - name: provider
                match: { mxSuffix: provider.test }
                connectionLimit: 8
                pool: shared
              - name: one-domain
                match: { domain: vip.test }
                messagesPerConnection: 5
            """, "test.yaml");

        var vip = rules.For("vip.test", ["mx1.provider.test"], ConfiguredDefaults);
        Assert.Equal((8, 5, "shared"), (vip.ConnectionLimit, vip.MessagesPerConnection, vip.Pool));
        Assert.Equal(TimeSpan.FromMinutes(1), vip.IdleConnectionTimeout);
        var plain = rules.For("plain.test", ["mx.plain.test"], ConfiguredDefaults);
        Assert.Equal((4, 50, null), (plain.ConnectionLimit, plain.MessagesPerConnection, plain.Pool));
    }

    [Theory]
    [InlineData("entries:\n  - name: x\n    match: default\n    connectionLimit: 0\n", "line 4: connectionLimit")]
    [InlineData("entries:\n  - name: x\n    match: default\n    idleConnectionTimeout: soon\n", "line 4: idleConnectionTimeout")]
    [InlineData("entries:\n  - name: x\n    match: { domain: not_a_domain }\n", "line 3: match.domain")]
    [InlineData("entries:\n  - name: x\n    match: { domain: a.test, site: b.test }\n", "line 3: match")]
    [InlineData("entries:\n  - name: x\n    match: default\n    colour: red\n", "line 4: unknown field 'colour'")]
    [InlineData("entries:\n  - match: default\n", "line 2: name")]
    [InlineData("entries:\n  - name: x\n    match: default\n  - name: x\n    match: default\n", "line 4: name: 'x' is used")]
    [InlineData("entries:\n  - name: x\n    match: default\n    automation:\n      - categories: [Sleepy]\n        action: suspend\n        for: 5m\n", "line 5: automation.categories")]
    [InlineData("entries:\n  - name: x\n    match: default\n    automation:\n      - categories: [RateLimited]\n        action: suspend\n", "line 5: automation.for")]
    [InlineData("entries:\n  - name: x\n    match: default\n    automation:\n      - categories: [RateLimited]\n        action: reduce\n        for: 5m\n", "line 5: automation: reduce")]
    [InlineData("entries:\n  - name: x\n    match: default\n    automation:\n      - categories: [RateLimited]\n        text: '('\n        action: bounce\n", "line 6: automation.text")]
    [InlineData("entries: [\n", "line")]
    [InlineData("entries:\n  - name: x\n    match: { senderDomain: news.test }\n    pool: bulk\n    connectionLimit: 2\n", "line 2: match.senderDomain")]
    [InlineData("entries:\n  - name: x\n    match: { senderDomain: news.test }\n", "line 2: match.senderDomain")]
    public void A_bad_file_is_refused_naming_its_line_and_field(string yaml, string expected)
    {
        var error = Assert.Throws<FormatException>(() => ShapingRulesFile.Parse(yaml, "rules.yaml"));
        Assert.Contains("rules.yaml " + expected, error.Message);
    }

    [Fact]
    public void A_sending_domain_chooses_its_pool_and_never_shapes_a_destination()
    {
        var (rules, _) = ShapingRulesFile.Parse("""
            entries:
              - name: everything
                match: default
                pool: main
              - name: newsletters
                match: { senderDomain: news.example.com }
                pool: bulk
            """, "rules.yaml");

        Assert.True(rules.HasSenderPools);
        Assert.Equal("bulk", rules.PoolForSender("news.example.com"));
        Assert.Equal("bulk", rules.PoolForSender("Eu.News.Example.Com."));
        Assert.Null(rules.PoolForSender("example.com"));
        Assert.Null(rules.PoolForSender(""));
        // The sender entry is no destination entry: news.example.com as a recipient domain gets the default's pool.
        var destination = rules.For("news.example.com", ["mx.example.com"], ConfiguredDefaults);
        Assert.Equal("main", destination.Pool);
        Assert.Equal(["everything"], destination.From);
        Assert.False(ShapingRulesFile.Defaults.HasSenderPools);
    }

    [Fact]
    public void An_operators_file_comes_after_the_shipped_rules_unless_it_drops_them()
    {
        var path = Path.Combine(Path.GetTempPath(), Guid.NewGuid().ToString("N") + ".yaml");
        try
        {
            File.WriteAllText(path, "entries:\n  - name: google-slower\n    match: { mxSuffix: google.com }\n    connectionLimit: 5\n");
            var merged = ShapingRulesFile.Load(path).For("example.com", ["aspmx.l.google.com"], ConfiguredDefaults);
            Assert.Equal((5, 100), (merged.ConnectionLimit, merged.MessagesPerConnection));

            File.WriteAllText(path, "includeDefaults: false\nentries:\n  - name: only\n    match: { domain: a.test }\n    connectionLimit: 2\n");
            var alone = ShapingRulesFile.Load(path);
            Assert.Equal(["only"], alone.Entries.Select(e => e.Name));
            Assert.Empty(alone.For("example.com", ["aspmx.l.google.com"], ConfiguredDefaults).Automation);

            File.WriteAllText(path, new string('#', (int)ShapingRulesFile.MaxFileSize + 1));
            Assert.Contains("larger than", Assert.Throws<FormatException>(() => ShapingRulesFile.Load(path)).Message);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
