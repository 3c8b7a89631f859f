using AyTrack.Core.Dsn;
using Xunit;

namespace AyTrack.Core.Tests;

public sealed class DsnParametersTests
{
    [Theory]
    [InlineData("SUCCESS", DsnNotify.Success)]
    [InlineData("failure,delay", DsnNotify.Failure | DsnNotify.Delay)]
    [InlineData("SUCCESS,FAILURE,DELAY", DsnNotify.Success | DsnNotify.Failure | DsnNotify.Delay)]
    [InlineData("NEVER", DsnNotify.Never)]
    public void Notify_lists_parse(string value, DsnNotify expected)
    {
        Assert.Null(DsnParameters.ParseNotify(value, out var notify));
        Assert.Equal(expected, notify);
    }

    [Theory]
    [InlineData("NEVER,FAILURE")]
    [InlineData("SUCCESS,SUCCESS")]
    [InlineData("")]
    [InlineData("SUCCESS,")]
    [InlineData("ALWAYS")]
    public void Bad_notify_lists_are_refused(string value) => Assert.NotNull(DsnParameters.ParseNotify(value, out _));

    [Fact]
    public void Xtext_decodes_hex_escapes_and_refuses_what_rfc_3461_forbids()
    {
        Assert.True(DsnParameters.TryDecodeXtext("Bob+40example.test", out var address));
        Assert.Equal("Bob@example.test", address);
        Assert.True(DsnParameters.TryDecodeXtext("a+2Bb+3Dc", out var plus));
        Assert.Equal("a+b=c", plus);
        Assert.False(DsnParameters.TryDecodeXtext("a+2b", out _));
        Assert.False(DsnParameters.TryDecodeXtext("a+4", out _));
        Assert.False(DsnParameters.TryDecodeXtext("a=b", out _));
        Assert.Equal("a+2Bb+3Dc+20d", DsnParameters.EncodeXtext("a+b=c d"));
    }

    [Fact]
    public void Envid_and_orcpt_are_bounded_and_typed()
    {
        Assert.Null(DsnParameters.ParseEnvelopeId(new string('x', 100), out _));
        Assert.NotNull(DsnParameters.ParseEnvelopeId(new string('x', 101), out _));
        Assert.Null(DsnParameters.ParseOriginalRecipient("RFC822;bob+40old.test", out var type, out var original));
        Assert.Equal(("rfc822", "bob@old.test"), (type, original));
        Assert.NotNull(DsnParameters.ParseOriginalRecipient("bob@old.test", out _, out _));
        Assert.NotNull(DsnParameters.ParseOriginalRecipient("rfc822;" + new string('x', 500), out _, out _));
        Assert.Null(DsnParameters.ParseReturn("hdrs", out var ret));
        Assert.Equal(DsnReturn.Headers, ret);
        Assert.NotNull(DsnParameters.ParseReturn("BODY", out _));
    }

    [Fact]
    public void Without_notify_a_recipient_gets_failure_and_delay_notices_only()
    {
        var options = new DsnOptions(null, null, new Dictionary<string, DsnRecipient>
        {
            ["never@x.test"] = new(DsnNotify.Never, null, null),
            ["success@x.test"] = new(DsnNotify.Success, null, null),
        });
        Assert.True(options.Wants("other@x.test", DsnNotify.Failure));
        Assert.True(options.Wants("other@x.test", DsnNotify.Delay));
        Assert.False(options.Wants("other@x.test", DsnNotify.Success));
        Assert.False(options.Wants("never@x.test", DsnNotify.Failure));
        Assert.False(options.Wants("success@x.test", DsnNotify.Failure));
        Assert.True(options.Wants("success@x.test", DsnNotify.Success));
    }
}
