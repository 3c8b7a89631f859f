using System.Text;
using AyTrack.Core.Dsn;
using AyTrack.Core.Smtp;
using Xunit;

namespace AyTrack.Core.Tests;

public sealed class OutboundProtocolTests
{
    private static string Data(string body) => Encoding.UTF8.GetString(SmtpData.Pieces(Encoding.UTF8.GetBytes(body)).SelectMany(p => p.ToArray()).ToArray());

    [Theory]
    [InlineData("a\r\nb\r\n", "a\r\nb\r\n.\r\n")]
    [InlineData(".a\r\n", "..a\r\n.\r\n")]
    [InlineData("a\r\n.\r\nb\r\n", "a\r\n..\r\nb\r\n.\r\n")]
    [InlineData("a\r\n..b\r\n.", "a\r\n...b\r\n..\r\n.\r\n")]
    [InlineData("no final line end", "no final line end\r\n.\r\n")]
    [InlineData("bare\nlf\n.dot\n", "bare\r\nlf\r\n..dot\r\n.\r\n")]
    [InlineData("", ".\r\n")]
    [InlineData("a.b\r\n x.\r\n", "a.b\r\n x.\r\n.\r\n")]
    public void Data_is_dot_stuffed_with_crlf_line_ends_and_the_terminator(string body, string expected) =>
        Assert.Equal(expected, Data(body));

    [Fact]
    public void A_large_body_is_sent_in_pieces_that_add_up_to_it()
    {
        var body = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, 10_000).Select(i => i % 7 == 0 ? $".line {i}\r\n" : $"line {i}\r\n")));
        var pieces = SmtpData.Pieces(body).ToList();
        // Runs of lines that need nothing are one piece: about two pieces per stuffed line, not one per line.
        Assert.True(pieces.Count < 10_000 / 7 * 2 + 10, $"{pieces.Count} pieces");
        var expected = Encoding.ASCII.GetString(body).Replace("\r\n.", "\r\n..");
        Assert.Equal("." + expected + ".\r\n", Encoding.ASCII.GetString(pieces.SelectMany(p => p.ToArray()).ToArray()));
    }

    [Fact]
    public void Eight_bit_content_is_recognised()
    {
        Assert.False(SmtpData.IsEightBit("plain ascii\r\n"u8));
        Assert.True(SmtpData.IsEightBit(Encoding.UTF8.GetBytes("caf\u00e9")));
    }

    [Fact]
    public void The_ehlo_offer_is_read_from_its_keyword_lines()
    {
        var offer = EhloOffer.Parse(["PIPELINING", "SIZE 35882577", "8BITMIME", "AUTH LOGIN PLAIN XOAUTH2", "AUTH=LOGIN", "ENHANCEDSTATUSCODES",
            "SMTPUTF8", "DSN", "STARTTLS", "X-UNKNOWN something"]);
        Assert.Equal(SmtpExtensions.Pipelining | SmtpExtensions.Size | SmtpExtensions.EightBitMime | SmtpExtensions.Auth | SmtpExtensions.EnhancedStatusCodes
                     | SmtpExtensions.SmtpUtf8 | SmtpExtensions.Dsn | SmtpExtensions.StartTls, offer.Extensions);
        Assert.Equal(35882577, offer.MaxSize);
        Assert.Equal(["LOGIN", "PLAIN", "XOAUTH2"], offer.AuthMechanisms);
        Assert.Equal(0, EhloOffer.Parse(["SIZE"]).MaxSize);
    }

    [Theory]
    [InlineData("250 OK", 250, true, "OK")]
    [InlineData("250-PIPELINING", 250, false, "PIPELINING")]
    [InlineData("354", 354, true, "")]
    [InlineData("550 5.1.1 caf\u00e9", 550, true, "5.1.1 caf\u00e9")]
    public void Reply_lines_are_parsed(string line, int code, bool last, string text)
    {
        Assert.True(ServerReply.TryParseLine(Encoding.UTF8.GetBytes(line), out var parsedCode, out var parsedLast, out var parsedText));
        Assert.Equal((code, last, text), (parsedCode, parsedLast, parsedText));
    }

    [Theory]
    [InlineData("")]
    [InlineData("25")]
    [InlineData("150 preliminary")]
    [InlineData("650 six")]
    [InlineData("2x0 OK")]
    [InlineData("250_OK")]
    [InlineData("hello")]
    public void Anything_else_is_not_a_reply(string line) =>
        Assert.False(ServerReply.TryParseLine(Encoding.UTF8.GetBytes(line), out _, out _, out _));

    [Fact]
    public void Mail_and_rcpt_carry_what_the_message_needs_and_the_server_offers()
    {
        var dsn = new DsnOptions(DsnReturn.Headers, "env+1", new Dictionary<string, DsnRecipient>
        {
            ["bob@b.test"] = new(DsnNotify.Success | DsnNotify.Delay, "rfc822", "Bob@old.test"),
            ["never@b.test"] = new(DsnNotify.Never, null, null),
            ["utf@b.test"] = new(null, "utf-8", "j\u00f6rg@old.test"),
        });
        var full = EhloOffer.Parse(["SIZE 1000", "8BITMIME", "DSN", "SMTPUTF8"]);
        Assert.Equal("MAIL FROM:<a@a.test> SIZE=120 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=env+2B1",
            OutboundCommands.MailFrom("a@a.test", full, 120, eightBit: true, smtpUtf8: true, dsn));
        Assert.Equal("RCPT TO:<bob@b.test> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;Bob@old.test", OutboundCommands.RcptTo("bob@b.test", full, dsn));
        Assert.Equal("RCPT TO:<never@b.test> NOTIFY=NEVER", OutboundCommands.RcptTo("never@b.test", full, dsn));
        Assert.Equal("RCPT TO:<utf@b.test> ORCPT=utf-8;j+C3+B6rg@old.test", OutboundCommands.RcptTo("utf@b.test", full, dsn));
        Assert.Equal("RCPT TO:<other@b.test>", OutboundCommands.RcptTo("other@b.test", full, dsn));
        Assert.Equal("RCPT TO:<\"a>b\"@b.test>", OutboundCommands.RcptTo("\"a>b\"@b.test", full, dsn));

        // A server without the extensions gets none of their parameters.
        Assert.Equal("MAIL FROM:<>", OutboundCommands.MailFrom("", EhloOffer.Nothing, 120, eightBit: true, smtpUtf8: false, dsn));
        Assert.Equal("RCPT TO:<bob@b.test>", OutboundCommands.RcptTo("bob@b.test", EhloOffer.Nothing, dsn));
    }

    [Theory]
    [InlineData("a@a.test>\r\nRCPT TO:<evil@x.test")]
    [InlineData("a@a.test\n")]
    [InlineData("a\u0000@a.test")]
    public void An_address_that_would_write_a_second_command_is_refused(string address)
    {
        Assert.Throws<ArgumentException>(() => OutboundCommands.MailFrom(address, EhloOffer.Nothing, 1, false, false, null));
        Assert.Throws<ArgumentException>(() => OutboundCommands.RcptTo(address, EhloOffer.Nothing, null));
    }
}
