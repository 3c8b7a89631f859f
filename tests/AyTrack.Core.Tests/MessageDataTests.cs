using System.Buffers;
using System.Text;
using AyTrack.Core.Messages;
using Xunit;

namespace AyTrack.Core.Tests;

public sealed class MessageDataTests
{
    [Theory]
    [InlineData("Subject: ok\r\n\r\nbody\r\n", false)]
    [InlineData("Subject: ok\r\n\r\nbody", false)]
    [InlineData("Subject: lf\n\nbody", true)]
    [InlineData("Subject: ok\r\n\r\nsmuggle\n.\r\nMAIL FROM:<x@y.test>", true)]
    [InlineData("Subject: ok\r\n\r\nsmuggle\r\n.\nMAIL FROM:<x@y.test>", true)]
    [InlineData("Subject: ok\r\n\r\nbare\rcr", true)]
    [InlineData("Subject: ok\r\n\r\nends with cr\r", true)]
    public void Bare_CR_or_LF_is_detected(string data, bool expected)
    {
        Assert.Equal(expected, MessageData.HasBareLineEnding(new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes(data))));
    }

    [Fact]
    public void Detection_works_across_buffer_segments()
    {
        // CR at the end of one segment and LF at the start of the next is a proper CRLF.
        var first = new Segment("line\r"u8.ToArray());
        var last = first.Append("\nnext\r\n"u8.ToArray());
        Assert.False(MessageData.HasBareLineEnding(new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length)));
    }

    [Fact]
    public void Line_endings_are_normalised_to_CRLF()
    {
        var normalized = MessageData.NormalizeLineEndings("a\nb\r\nc\rd"u8);
        Assert.Equal("a\r\nb\r\nc\r\nd", Encoding.ASCII.GetString(normalized));
    }

    [Fact]
    public void Headers_are_found_case_insensitively_and_unfolded_but_not_in_the_body()
    {
        var message = "Subject: hi\r\nmessage-id:\r\n <abc@x.test>\r\nTo: a@x.test\r\n\r\nMessage-ID: <body@x.test>\r\n"u8;

        Assert.Equal("<abc@x.test>", MessageData.FindHeader(message, "Message-ID"));
        Assert.Null(MessageData.FindHeader("Subject: x\r\n\r\nMessage-ID: <b@x.test>\r\n"u8, "Message-ID"));
    }

    [Fact]
    public void The_Received_header_names_peer_server_protocol_and_queue_id()
    {
        var header = MessageData.ReceivedHeader("client.test", "127.0.0.1", "aytrack.test", "ESMTP", "q1", "a@b.test",
            new DateTimeOffset(2026, 11, 27, 10, 0, 0, TimeSpan.Zero));

        Assert.Equal("Received: from client.test ([127.0.0.1])\r\n\tby aytrack.test (AyTrack) with ESMTP id q1\r\n\tfor <a@b.test>;\r\n\tFri, 27 Nov 2026 10:00:00 +0000\r\n", header);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(byte[] memory) => Memory = memory;

        public Segment Append(byte[] memory)
        {
            var next = new Segment(memory) { RunningIndex = RunningIndex + Memory.Length };
            Next = next;
            return next;
        }
    }
}
