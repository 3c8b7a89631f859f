using System.Buffers;
using System.Net;
using System.Text;
using AyTrack.Core.Smtp;
using Xunit;

namespace AyTrack.Core.Tests;

/// <summary>The listener's pure parts: command grammar, the DATA state machine, the PROXY header.</summary>
public sealed class SmtpListenerGrammarTests
{
    private static readonly IReadOnlySet<string> Mail = new HashSet<string>(["SIZE", "BODY", "SMTPUTF8"]);
    private static readonly IReadOnlySet<string> None = new HashSet<string>();

    [Theory]
    [InlineData("FROM:<a@b.test>", "a@b.test")]
    [InlineData("from: <a@b.test>", "a@b.test")]
    [InlineData("FROM:<>", "")]
    [InlineData("FROM:<@relay.test,@other.test:a@b.test>", "a@b.test")]
    [InlineData("FROM:<\"a b\"@b.test>", "\"a b\"@b.test")]
    [InlineData("FROM:<\"a>b\"@b.test>", "\"a>b\"@b.test")]
    [InlineData("FROM:<δοκιμή@παράδειγμα.test> SMTPUTF8", "δοκιμή@παράδειγμα.test")]
    public void MAIL_paths_parse_to_the_mailbox(string argument, string mailbox)
    {
        Assert.True(SmtpCommandParser.TryParsePath(argument, isMail: true, Mail, out var command, out var error), error?.ToString());
        Assert.Equal(mailbox, command.Mailbox);
    }

    [Theory]
    [InlineData("FROM:a@b.test")]
    [InlineData("FROM:<a@b.test")]
    [InlineData("FROM:<a@b.test>x")]
    [InlineData("FROM:<no-at-sign>")]
    [InlineData("FROM:<a..b@b.test>")]
    [InlineData("FROM:<a@bad_domain.test>")]
    [InlineData("TO:<a@b.test>")]
    public void Malformed_MAIL_paths_get_501_5_1_7(string argument)
    {
        Assert.False(SmtpCommandParser.TryParsePath(argument, isMail: true, Mail, out _, out var error));
        Assert.Equal((501, "5.1.7"), (error.Code, error.Enhanced));
    }

    [Fact]
    public void RCPT_accepts_postmaster_without_a_domain_and_refuses_the_null_path()
    {
        Assert.True(SmtpCommandParser.TryParsePath("TO:<PostMaster>", isMail: false, None, out var command, out _));
        Assert.Equal("postmaster", command.Mailbox);
        Assert.False(SmtpCommandParser.TryParsePath("TO:<>", isMail: false, None, out _, out var error));
        Assert.Equal((501, "5.1.3"), (error.Code, error.Enhanced));
    }

    [Theory]
    [InlineData("FROM:<a@b.test> SIZE=1000 BODY=8BITMIME SMTPUTF8", null, null)]
    [InlineData("FROM:<a@b.test> size=1000 body=7bit", null, null)]
    [InlineData("FROM:<a@b.test> SIZE=abc", 501, "SIZE")]
    [InlineData("FROM:<a@b.test> SIZE=123456789012345678901", 501, "SIZE")]
    [InlineData("FROM:<a@b.test> SIZE=", 501, "SIZE=")]
    [InlineData("FROM:<a@b.test> BODY=BINARYMIME", 501, "BODY")]
    [InlineData("FROM:<a@b.test> SMTPUTF8=yes", 501, "SMTPUTF8")]
    [InlineData("FROM:<a@b.test> SIZE=10 SIZE=20", 501, "more than once")]
    [InlineData("FROM:<a@b.test> AUTH=<>", 555, "AUTH")]
    [InlineData("FROM:<a@b.test> RET=HDRS", 555, "RET")]
    [InlineData("FROM:<a@b.test> X-UNKNOWN", 555, "X-UNKNOWN")]
    [InlineData("FROM:<a@b.test> -BAD", 501, "-BAD")]
    public void MAIL_parameters_are_checked(string argument, int? code, string? mentions)
    {
        var ok = SmtpCommandParser.TryParsePath(argument, isMail: true, Mail, out var command, out var error);
        if (code is null)
        {
            Assert.True(ok, error?.ToString());
            Assert.NotNull(command.Parameter("SIZE") ?? command.Parameter("BODY"));
            return;
        }

        Assert.False(ok);
        Assert.Equal((code.Value, "5.5.4"), (error.Code, error.Enhanced));
        Assert.Contains(mentions!, error.Text);
    }

    [Fact]
    public void Parameters_are_kept_in_order_for_the_extensions_that_read_them()
    {
        var dsn = new HashSet<string>(["NOTIFY", "ORCPT"]);
        Assert.True(SmtpCommandParser.TryParsePath("TO:<a@b.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a@b.test", isMail: false, dsn, out var command, out _));
        Assert.Equal([new EsmtpParameter("NOTIFY", "SUCCESS,FAILURE"), new EsmtpParameter("ORCPT", "rfc822;a@b.test")], command.Parameters);
        Assert.False(SmtpCommandParser.TryParsePath("TO:<a@b.test> NOTIFY=NEVER", isMail: false, None, out _, out var error));
        Assert.Equal(555, error.Code);
    }

    private sealed class Collect : IDataSink
    {
        public MemoryStream Data { get; } = new();

        public void Write(ReadOnlySpan<byte> data) => Data.Write(data);

        public string Text => Encoding.UTF8.GetString(Data.ToArray());
    }

    private static (DataReceiver Receiver, Collect Sink, long Consumed) Receive(string wire, long maxSize = 1_000_000, int pieceSize = int.MaxValue)
    {
        var sink = new Collect();
        var receiver = new DataReceiver(maxSize, sink);
        var bytes = Encoding.UTF8.GetBytes(wire);
        long consumed = 0;
        // Fed in pieces, as the network delivers it: the state must carry across every boundary.
        for (var i = 0; i < bytes.Length && !receiver.Completed; i += pieceSize)
        {
            var piece = bytes.AsSpan(i, Math.Min(pieceSize, bytes.Length - i));
            consumed += receiver.Consume(piece);
        }

        return (receiver, sink, consumed);
    }

    [Theory]
    [InlineData(int.MaxValue)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Data_ends_at_CRLF_dot_CRLF_unstuffs_dots_and_leaves_what_follows(int pieceSize)
    {
        var (receiver, sink, consumed) = Receive("Subject: x\r\n\r\n..leading dot\r\n.x\r\nend\r\n.\r\nQUIT\r\n", pieceSize: pieceSize);

        Assert.True(receiver.Completed);
        Assert.Equal(DataProblem.None, receiver.Verdict);
        Assert.Equal("Subject: x\r\n\r\n.leading dot\r\nx\r\nend\r\n", sink.Text);
        Assert.Equal("Subject: x\r\n\r\n..leading dot\r\n.x\r\nend\r\n.\r\n".Length, consumed);
    }

    [Fact]
    public void An_immediate_dot_is_an_empty_message()
    {
        var (receiver, sink, consumed) = Receive(".\r\n");
        Assert.True(receiver.Completed);
        Assert.Equal(DataProblem.None, receiver.Verdict);
        Assert.Equal(0, sink.Data.Length);
        Assert.Equal(3, consumed);
    }

    [Theory]
    [InlineData("a\n.\nb\r\n.\r\n")]
    [InlineData("a\r\n.\nb\r\n.\r\n")]
    [InlineData("a\rb\r\n.\r\n")]
    [InlineData("a\r\n.\rb\r\n.\r\n")]
    public void Bare_CR_or_LF_never_ends_the_data_and_is_refused(string wire)
    {
        var (receiver, _, consumed) = Receive(wire, pieceSize: 1);
        Assert.True(receiver.Completed);
        Assert.Equal(wire.Length, consumed);
        Assert.Equal(DataProblem.BareLineEnding, receiver.Verdict);
    }

    [Fact]
    public void A_line_of_999_octets_is_refused_and_998_is_not()
    {
        Assert.Equal(DataProblem.None, Receive(new string('x', 998) + "\r\n.\r\n", pieceSize: 100).Receiver.Verdict);
        Assert.Equal(DataProblem.LineTooLong, Receive(new string('x', 999) + "\r\n.\r\n", pieceSize: 100).Receiver.Verdict);
        // A stuffed dot is not part of the line.
        Assert.Equal(DataProblem.None, Receive("." + new string('.', 998) + "\r\n.\r\n").Receiver.Verdict);
    }

    [Fact]
    public void Data_past_the_limit_is_discarded_and_counted()
    {
        var (receiver, sink, _) = Receive(new string('x', 50) + "\r\n" + new string('y', 50) + "\r\n.\r\n", maxSize: 60);
        Assert.True(receiver.Completed);
        Assert.Equal(DataProblem.TooBig, receiver.Verdict);
        Assert.Equal(60, sink.Data.Length);
        Assert.Equal(104, receiver.Size);
    }

    [Fact]
    public void A_sequence_split_across_segments_is_consumed_up_to_the_dot()
    {
        var first = new Segment("hello\r"u8.ToArray());
        var last = first.Append("\n.\r\nNOOP\r\n"u8.ToArray());
        var sink = new Collect();
        var receiver = new DataReceiver(1000, sink);

        var consumed = receiver.Consume(new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length));

        Assert.Equal(10, consumed);
        Assert.Equal("hello\r\n", sink.Text);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(byte[] data) => Memory = data;

        public Segment Append(byte[] data)
        {
            var next = new Segment(data) { RunningIndex = RunningIndex + Memory.Length };
            Next = next;
            return next;
        }
    }

    [Fact]
    public void PROXY_v1_names_the_client()
    {
        var header = "PROXY TCP4 192.0.2.7 127.0.0.1 40000 25\r\nEHLO x\r\n"u8.ToArray();
        Assert.Equal(ProxyHeader.Status.Parsed, ProxyHeader.TryParse(new ReadOnlySequence<byte>(header), out var source, out var length, out _));
        Assert.Equal(new IPEndPoint(IPAddress.Parse("192.0.2.7"), 40000), source);
        Assert.Equal(41, length);

        Assert.Equal(ProxyHeader.Status.Incomplete, ProxyHeader.TryParse(new ReadOnlySequence<byte>("PROXY TCP4 192"u8.ToArray()), out _, out _, out _));
        Assert.Equal(ProxyHeader.Status.Parsed, ProxyHeader.TryParse(new ReadOnlySequence<byte>("PROXY UNKNOWN\r\n"u8.ToArray()), out var unknown, out _, out _));
        Assert.Null(unknown);
    }

    [Theory]
    [InlineData("PROXY TCP4 192.0.2.7 127.0.0.1 40000\r\n")]
    [InlineData("PROXY TCP6 192.0.2.7 127.0.0.1 40000 25\r\n")]
    [InlineData("PROXY TCP4 not-an-ip 127.0.0.1 40000 25\r\n")]
    [InlineData("PROXY TCP4 192.0.2.7 127.0.0.1 40000 25\n")]
    [InlineData("EHLO client.test\r\n")]
    public void Malformed_PROXY_v1_headers_are_invalid(string text)
    {
        Assert.Equal(ProxyHeader.Status.Invalid, ProxyHeader.TryParse(new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes(text)), out _, out _, out var error));
        Assert.NotEmpty(error);
    }

    [Fact]
    public void A_PROXY_v1_line_that_never_ends_is_invalid_after_107_octets()
    {
        var text = "PROXY TCP4 " + new string('1', 200);
        Assert.Equal(ProxyHeader.Status.Invalid, ProxyHeader.TryParse(new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes(text)), out _, out _, out _));
    }

    [Fact]
    public void PROXY_v2_names_the_client_for_IPv4_and_IPv6()
    {
        byte[] v4 = [.. ProxyHeader.V2Signature, 0x21, 0x11, 0, 12, 198, 51, 100, 9, 127, 0, 0, 1, 0x9C, 0x40, 0, 25];
        Assert.Equal(ProxyHeader.Status.Parsed, ProxyHeader.TryParse(new ReadOnlySequence<byte>(v4), out var source, out var length, out _));
        Assert.Equal(new IPEndPoint(IPAddress.Parse("198.51.100.9"), 40000), source);
        Assert.Equal(28, length);

        var v6Source = IPAddress.Parse("2001:db8::5").GetAddressBytes();
        byte[] v6 = [.. ProxyHeader.V2Signature, 0x21, 0x21, 0, 36, .. v6Source, .. IPAddress.IPv6Loopback.GetAddressBytes(), 0x01, 0xBB, 0, 25];
        Assert.Equal(ProxyHeader.Status.Parsed, ProxyHeader.TryParse(new ReadOnlySequence<byte>(v6), out var source6, out _, out _));
        Assert.Equal(new IPEndPoint(IPAddress.Parse("2001:db8::5"), 443), source6);

        byte[] local = [.. ProxyHeader.V2Signature, 0x20, 0x00, 0, 0];
        Assert.Equal(ProxyHeader.Status.Parsed, ProxyHeader.TryParse(new ReadOnlySequence<byte>(local), out var none, out _, out _));
        Assert.Null(none);

        byte[] tooLong = [.. ProxyHeader.V2Signature, 0x21, 0x11, 0xFF, 0xFF];
        Assert.Equal(ProxyHeader.Status.Invalid, ProxyHeader.TryParse(new ReadOnlySequence<byte>(tooLong), out _, out _, out _));
        Assert.Equal(ProxyHeader.Status.Incomplete, ProxyHeader.TryParse(new ReadOnlySequence<byte>(v4.AsMemory(0, 20)), out _, out _, out _));
    }
}
