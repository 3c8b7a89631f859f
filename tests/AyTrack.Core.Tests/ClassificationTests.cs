using AyTrack.Core.Delivery;
using Xunit;

namespace AyTrack.Core.Tests;

public sealed class ClassificationTests
{
    [Theory]
    [InlineData(250, "2.0.0 Ok", RecipientOutcome.Delivered)]
    [InlineData(451, "4.3.0 try later", RecipientOutcome.Deferred)]
    [InlineData(550, "5.1.1 no such user", RecipientOutcome.Failed)]
    [InlineData(550, "4.2.2 mailbox full", RecipientOutcome.Deferred)]
    [InlineData(451, "5.7.1 policy", RecipientOutcome.Failed)]
    [InlineData(421, "service not available", RecipientOutcome.Deferred)]
    [InlineData(554, "transaction failed", RecipientOutcome.Failed)]
    public void Enhanced_codes_win_over_basic_codes(int code, string text, RecipientOutcome expected)
    {
        Assert.Equal(expected, FailureClassification.Classify(SmtpReply.From(code, text)));
    }

    [Theory]
    [InlineData(550, "5.1.1 User unknown", "5.1.1", "User unknown")]
    [InlineData(250, "2.0.0", "2.0.0", "")]
    [InlineData(550, "Mailbox unavailable", null, "Mailbox unavailable")]
    [InlineData(550, "5.1.1x not a code", null, "5.1.1x not a code")]
    public void Replies_split_off_their_enhanced_code(int code, string text, string? enhanced, string rest)
    {
        var reply = SmtpReply.From(code, text);

        Assert.Equal(enhanced, reply.Enhanced);
        Assert.Equal(rest, reply.Text);
    }
}
