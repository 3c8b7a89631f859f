using AyTrack.Core.Delivery;
using Xunit;

namespace AyTrack.Core.Tests;

public sealed class RelayFallbackTests
{
    [Theory]
    [InlineData(RecipientOutcome.Deferred, 451, "4.4.1 Connection refused", true)]
    [InlineData(RecipientOutcome.Deferred, 421, "4.7.0 TLS handshake failed", true)]
    [InlineData(RecipientOutcome.Failed, 550, "5.7.1 client host blocked", true)]
    [InlineData(RecipientOutcome.Failed, 554, "5.7.1 rejected: listed at a DNSBL", true)]
    [InlineData(RecipientOutcome.Failed, 550, "5.1.1 no such user", false)]
    [InlineData(RecipientOutcome.Failed, 552, "5.2.2 mailbox full", false)]
    [InlineData(RecipientOutcome.Failed, 556, "5.1.10 null MX", false)]
    [InlineData(RecipientOutcome.Delivered, 250, "2.0.0 ok", false)]
    public void Only_what_a_relay_can_fix_is_relayed(RecipientOutcome outcome, int code, string text, bool expected)
    {
        Assert.Equal(expected, RelayFallback.ShouldRelay(new RecipientAttempt("a@b.test", outcome, SmtpReply.From(code, text))));
    }
}
