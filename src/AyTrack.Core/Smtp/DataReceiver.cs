using System.Buffers;

namespace AyTrack.Core.Smtp;

/// <summary>Where <see cref="DataReceiver"/> puts the message's octets as it unstuffs them.</summary>
public interface IDataSink
{
    void Write(ReadOnlySpan<byte> data);
}

/// <summary>What was wrong with a message's data, found while it streamed in; decided at the final dot.</summary>
public enum DataProblem
{
    None,

    /// <summary>Beyond the size limit: the rest was discarded as it arrived (RFC 1870 §4: 552 5.3.4).</summary>
    TooBig,

    /// <summary>A CR or LF alone (RFC 5321 §2.3.8): what SMTP smuggling needs, so refused whole (550 5.5.2).</summary>
    BareLineEnding,

    /// <summary>
    /// A line of more than 998 octets (RFC 5322 §2.1.1, RFC 5321 §4.5.3.1.6). The next hop would refuse it and we
    /// would bounce it later (backscatter), so it is refused now (550 5.6.0).
    /// </summary>
    LineTooLong,
}

/// <summary>
/// The DATA phase of RFC 5321 §4.1.1.4 as a state machine over the bytes as they arrive: finds the end (CRLF "."
/// CRLF, the first CRLF being the DATA command's own or the last line's), removes dot-stuffing (§4.5.2), and
/// notes bare CR/LF, over-long lines and the size limit without buffering anything itself. Only a proper CRLF.CRLF
/// ends the data, so "\n.\n" or "\r\n.\n" can never end it here and start a smuggled second message.
/// </summary>
public sealed class DataReceiver(long maxSize, IDataSink sink)
{
    /// <summary>RFC 5322 §2.1.1: at most 998 characters per line, excluding the CRLF.</summary>
    public const int MaxLineOctets = 998;

    private enum State
    {
        LineStart,
        InLine,
        Cr,
        Dot,
        DotCr,
    }

    private State _state = State.LineStart;
    private int _lineLength;

    /// <summary>Octets of message content seen (after unstuffing), counting those discarded past the limit.</summary>
    public long Size { get; private set; }

    public bool Completed { get; private set; }

    public bool HasBareLineEnding { get; private set; }

    public bool HasLongLine { get; private set; }

    /// <summary>The verdict at the final dot: size first (it is what the client can fix), then the content's form.</summary>
    public DataProblem Verdict => Size > maxSize ? DataProblem.TooBig
        : HasBareLineEnding ? DataProblem.BareLineEnding
        : HasLongLine ? DataProblem.LineTooLong
        : DataProblem.None;

    /// <summary>
    /// Consumes data up to and including the terminating ".CRLF" and returns how many octets of <paramref name="data"/>
    /// belonged to the message; the rest (pipelined commands after the dot) is the caller's.
    /// </summary>
    public long Consume(ReadOnlySequence<byte> data)
    {
        long consumed = 0;
        foreach (var segment in data)
        {
            var used = Consume(segment.Span);
            consumed += used;
            if (Completed)
            {
                break;
            }
        }

        return consumed;
    }

    public int Consume(ReadOnlySpan<byte> data)
    {
        var i = 0;
        while (i < data.Length && !Completed)
        {
            switch (_state)
            {
                case State.LineStart:
                    if (data[i] == (byte)'.')
                    {
                        // Either the end (".CRLF") or a stuffed dot, which is removed.
                        _state = State.Dot;
                        i++;
                    }
                    else
                    {
                        _state = State.InLine;
                    }

                    break;

                case State.InLine:
                {
                    var rest = data[i..];
                    var stop = rest.IndexOfAny((byte)'\r', (byte)'\n');
                    var run = stop < 0 ? rest : rest[..stop];
                    Emit(run);
                    _lineLength += run.Length;
                    if (_lineLength > MaxLineOctets)
                    {
                        HasLongLine = true;
                    }

                    i += run.Length;
                    if (stop >= 0)
                    {
                        if (rest[stop] == (byte)'\r')
                        {
                            _state = State.Cr;
                        }
                        else
                        {
                            // A bare LF: kept in the content (the message is refused anyway), never a line start.
                            HasBareLineEnding = true;
                            Emit("\n"u8);
                            _lineLength = 0;
                        }

                        i++;
                    }

                    break;
                }

                case State.Cr:
                    if (data[i] == (byte)'\n')
                    {
                        Emit("\r\n"u8);
                        _lineLength = 0;
                        _state = State.LineStart;
                        i++;
                    }
                    else
                    {
                        HasBareLineEnding = true;
                        Emit("\r"u8);
                        _state = State.InLine;
                    }

                    break;

                case State.Dot:
                    if (data[i] == (byte)'\r')
                    {
                        _state = State.DotCr;
                        i++;
                    }
                    else
                    {
                        _state = State.InLine;
                    }

                    break;

                case State.DotCr:
                    if (data[i] == (byte)'\n')
                    {
                        Completed = true;
                        i++;
                    }
                    else
                    {
                        // ".\r" and something else: a bare CR on a line that is not the end.
                        HasBareLineEnding = true;
                        Emit("\r"u8);
                        _state = State.InLine;
                    }

                    break;
            }
        }

        return i;
    }

    private void Emit(ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty)
        {
            return;
        }

        var room = maxSize - Size;
        Size += bytes.Length;
        if (room > 0)
        {
            sink.Write(room >= bytes.Length ? bytes : bytes[..(int)room]);
        }
    }
}
