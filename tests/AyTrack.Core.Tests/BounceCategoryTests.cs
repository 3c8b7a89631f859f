using AyTrack.Core.Bounces;
using AyTrack.Core.Delivery;
using Xunit;

namespace AyTrack.Core.Tests;

public sealed class BounceCategoryTests
{
    // Replies as the providers publish them (and as AyTrack writes its own), with the category a sender expects.
    [Theory]
    [InlineData(550, "5.1.1 The email account that you tried to reach does not exist. Please try double-checking the recipient's email address - gsmtp", BounceCategory.InvalidRecipient)]
    [InlineData(452, "4.2.2 The email account that you tried to reach is over quota. - gsmtp", BounceCategory.MailboxFull)]
    [InlineData(552, "5.2.3 Your message exceeded Google's message size limits. - gsmtp", BounceCategory.MessageTooLarge)]
    [InlineData(550, "5.7.26 This mail is unauthenticated, which poses a security risk to the sender and Gmail users - gsmtp", BounceCategory.AuthenticationFailure)]
    [InlineData(421, "4.7.28 Our system has detected an unusual rate of unsolicited mail originating from your IP address. - gsmtp", BounceCategory.RateLimited)]
    [InlineData(550, "5.7.1 Our system has detected that this message is likely unsolicited mail. - gsmtp", BounceCategory.SpamBlock)]
    [InlineData(421, "4.7.0 Try again later, closing connection. - gsmtp", BounceCategory.RateLimited)]
    [InlineData(552, "5.7.0 This message was blocked because its content presents a potential security issue. - gsmtp", BounceCategory.ContentRejected)]
    [InlineData(421, "4.7.0 [TSS04] Messages from 203.0.113.25 temporarily deferred due to unexpected volume or user complaints", BounceCategory.RateLimited)]
    [InlineData(553, "5.7.1 [BL21] Connections will not be accepted from 203.0.113.25, because the ip is in Spamhaus's list", BounceCategory.SpamBlock)]
    [InlineData(554, "5.7.9 Message not accepted for policy reasons", BounceCategory.PolicyBlock)]
    [InlineData(552, "1 Requested mail action aborted, mailbox not found", BounceCategory.InvalidRecipient)]
    [InlineData(550, "5.7.515 Access denied, sending domain example.com doesn't meet the required authentication level", BounceCategory.AuthenticationFailure)]
    [InlineData(550, "5.7.1 Unfortunately, messages from [203.0.113.25] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3150)", BounceCategory.SpamBlock)]
    [InlineData(451, "4.7.500 Server busy. Please try again later from [203.0.113.25]", BounceCategory.RateLimited)]
    [InlineData(550, "5.4.1 Recipient address rejected: Access denied", BounceCategory.InvalidRecipient)]
    [InlineData(554, "5.6.211 Invalid MIME Content: Single text value size (32768) exceeded allowed maximum", BounceCategory.ContentRejected)]
    [InlineData(451, "4.4.1 Connection to mx.example.test [127.0.0.5] failed: Connection refused", BounceCategory.ConnectionFailure)]
    [InlineData(451, "4.4.2 Timed out connecting to mx.example.test [127.0.0.5]", BounceCategory.ConnectionFailure)]
    [InlineData(451, "4.4.3 DNS MX lookup for example.test failed: ServerFailure", BounceCategory.DnsFailure)]
    [InlineData(550, "5.1.2 Host mx.example.test does not exist (DNS NXDOMAIN)", BounceCategory.DnsFailure)]
    [InlineData(451, "4.7.5 MTA-STS policy of example.test: the certificate of mx.example.test is not valid for it", BounceCategory.TlsFailure)]
    [InlineData(550, "5.1.10 example.test does not accept mail (null MX, RFC 7505)", BounceCategory.InvalidRecipient)]
    [InlineData(550, "Sorry, no mailbox here by that name", BounceCategory.Other)]
    [InlineData(450, "Greylisted, please try again in 5 minutes", BounceCategory.RateLimited)]
    [InlineData(554, "Service unavailable; client host [203.0.113.25] blocked using zen.spamhaus.org", BounceCategory.SpamBlock)]
    [InlineData(550, "5.1.1 <bob@example.test>: Recipient address rejected: User unknown; see our anti-spam policy", BounceCategory.InvalidRecipient)]
    public void Published_replies_get_the_category_a_sender_expects(int code, string text, BounceCategory expected)
    {
        Assert.Equal(expected, BounceRulesFile.Defaults.Classify(SmtpReply.From(code, text)));
        Assert.Equal(expected, BounceRulesFile.Defaults.Classify(SmtpReply.From(code, text).ToString()));
    }

    [Fact]
    public void An_operators_rules_come_first_and_can_drop_the_defaults()
    {
        var dir = Directory.CreateTempSubdirectory("aytrack-rules").FullName;
        try
        {
            var extend = Path.Combine(dir, "extend.yaml");
            File.WriteAllText(extend, "rules:\n  - name: our-relay-quota\n    category: RateLimited\n    reply: 5xx\n    text: \"daily sending quota\"\n");
            var rules = BounceRulesFile.Load(extend);
            Assert.Equal(BounceCategory.RateLimited, rules.Classify(SmtpReply.From(550, "5.4.6 daily sending quota exceeded")));
            Assert.Equal(BounceCategory.InvalidRecipient, rules.Classify(SmtpReply.From(550, "5.1.1 no such user")));

            var replace = Path.Combine(dir, "replace.yaml");
            File.WriteAllText(replace, "includeDefaults: false\nrules:\n  - {category: PolicyBlock, status: 5.*}\n");
            var only = BounceRulesFile.Load(replace);
            Assert.Equal(BounceCategory.PolicyBlock, only.Classify(SmtpReply.From(550, "5.1.1 no such user")));
            Assert.Equal(BounceCategory.Other, only.Classify(SmtpReply.From(451, "4.4.1 refused")));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void A_pattern_that_backtracks_without_end_is_no_match_not_a_hang_and_a_huge_file_is_refused()
    {
        var (rules, _) = BounceRulesFile.Parse("rules:\n  - {category: SpamBlock, text: \"^(a+)+$\"}\n", "rules.yaml");
        // Without the match budget this would backtrack for ages; with it, the rule simply does not match.
        Assert.Equal(BounceCategory.Other, rules.Classify(SmtpReply.From(550, new string('a', 40) + "!")));

        var dir = Directory.CreateTempSubdirectory("aytrack-rules").FullName;
        try
        {
            var huge = Path.Combine(dir, "huge.yaml");
            File.WriteAllText(huge, "rules:\n" + new string('#', (int)BounceRulesFile.MaxFileSize));
            Assert.Contains("larger than", Assert.Throws<FormatException>(() => BounceRulesFile.Load(huge)).Message);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Theory]
    [InlineData("rules:\n  - category: Spam\n    status: 5.7.1\n", "line 2", "category 'Spam'")]
    [InlineData("rules:\n  - category: SpamBlock\n    status: 5.7\n", "line 3", "status '5.7'")]
    [InlineData("rules:\n  - category: SpamBlock\n    reply: 55\n", "line 3", "reply '55'")]
    [InlineData("rules:\n  - category: SpamBlock\n    text: \"(unclosed\"\n", "line 3", "not a valid regular expression")]
    [InlineData("rules:\n  - category: SpamBlock\n", "line 2", "no condition")]
    [InlineData("rules:\n  - status: 5.7.1\n", "line 2", "no category")]
    [InlineData("rules:\n  - category: SpamBlock\n    status: 5.7.1\n    colour: red\n", "line 4", "unknown field 'colour'")]
    [InlineData("rules:\n  - category: [SpamBlock\n", "line", "")]
    [InlineData("rule:\n  - category: SpamBlock\n", "line 1", "unknown key 'rule'")]
    [InlineData("rules: 5\n", "line 1", "rules must be a list")]
    public void A_bad_rules_file_is_refused_naming_its_line(string yaml, string line, string problem)
    {
        var error = Assert.Throws<FormatException>(() => BounceRulesFile.Parse(yaml, "rules.yaml"));
        Assert.StartsWith($"rules.yaml {line}", error.Message);
        Assert.Contains(problem, error.Message);
    }
}
