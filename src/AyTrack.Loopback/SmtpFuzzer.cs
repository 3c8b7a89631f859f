using System.Net;
using System.Net.Sockets;
using System.Text;

namespace AyTrack.Loopback;

/// <summary>What a fuzzing run did and what went wrong (nothing, when the listener held).</summary>
public sealed record FuzzReport(int Sessions, long Commands, long Replies, long ServerClosures, IReadOnlyList<string> Failures)
{
    public override string ToString() =>
        $"{Sessions} sessions, {Commands} commands, {Replies} replies, {ServerClosures} closed by the server with 421/221, {Failures.Count} failures";
}

/// <summary>
/// A structured SMTP session fuzzer: random but grammar-aware command sequences (valid, mutated, over-long, binary,
/// bare line endings, UTF-8 and broken UTF-8), pipelined groups, random DATA bodies, and disconnects in the middle of
/// a line or a message. It knows how many replies each unit it sends must get, so it checks that every command got
/// exactly one well-formed reply until the server ended the session with 421 or 221. Deterministic for a seed (the
/// server's timing aside). Used by a fixed-seed test and, for minutes, by the benchmark (docs/security.md).
/// </summary>
public sealed class SmtpFuzzer(IPEndPoint endpoint, int seed)
{
    /// <summary>The happy path a session follows half of the time, so mutations also land inside transactions.</summary>
    private static readonly string[] Script = ["EHLO", "MAIL", "RCPT", "RCPT", "DATA"];

    private static readonly string[] Verbs =
        ["EHLO", "HELO", "MAIL", "RCPT", "DATA", "RSET", "NOOP", "VRFY", "HELP", "EXPN", "STARTTLS", "AUTH", "BDAT", "PROXY", "QUIT", "TURN", "XCLIENT"];

    private readonly List<string> _failures = [];
    private int _sessions;
    private long _commands;
    private long _replies;
    private long _closures;

    /// <summary>Longest over-long line it sends; the benchmark raises it.</summary>
    public int MaxJunkLine { get; init; } = 100_000;

    /// <summary>Largest DATA body it sends.</summary>
    public int MaxBody { get; init; } = 300_000;

    /// <summary>How long a reply may take before the fuzzer calls it missing.</summary>
    public TimeSpan ReplyTimeout { get; init; } = TimeSpan.FromSeconds(15);

    public async Task<FuzzReport> RunAsync(int concurrency, TimeSpan duration)
    {
        var deadline = DateTime.UtcNow + duration;
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(i => Task.Run(() => WorkerAsync(new Random(seed * 1000 + i), deadline))));
        lock (_failures)
        {
            return new FuzzReport(_sessions, _commands, _replies, _closures, _failures.ToArray());
        }
    }

    private async Task WorkerAsync(Random random, DateTime deadline)
    {
        while (DateTime.UtcNow < deadline)
        {
            Interlocked.Increment(ref _sessions);
            try
            {
                await SessionAsync(random, deadline);
            }
            catch (Exception error) when (error is IOException or SocketException)
            {
                Fail($"connection failed: {error.Message}");
            }
        }
    }

    private void Fail(string what)
    {
        lock (_failures)
        {
            if (_failures.Count < 100)
            {
                _failures.Add(what);
            }
        }
    }

    private async Task SessionAsync(Random random, DateTime deadline)
    {
        using var tcp = new TcpClient { NoDelay = true };
        await tcp.ConnectAsync(endpoint);
        var stream = tcp.GetStream();
        var reader = new ReplyReader(stream);
        var greeting = await reader.ReadAsync(ReplyTimeout);
        if (greeting is null || greeting.Code != 220)
        {
            Fail($"greeting: {greeting?.ToString() ?? "none"}");
            return;
        }

        var units = random.Next(1, 60);
        var step = 0;
        while (units > 0 && DateTime.UtcNow < deadline)
        {
            // A pipelined group: commands that each get one reply; DATA or QUIT only last (RFC 2920 §3.1).
            var group = new List<byte[]>();
            var count = random.Next(10) < 7 ? 1 : random.Next(2, 9);
            var last = string.Empty;
            for (var i = 0; i < count && units > 0; i++, units--)
            {
                var (line, verb) = Command(random, ref step);
                group.Add(line);
                last = verb;
                if (verb is "DATA" or "QUIT")
                {
                    break;
                }
            }

            var bytes = group.SelectMany(l => l).ToArray();
            if (random.Next(100) < 2)
            {
                // Gone in the middle of a line.
                await stream.WriteAsync(bytes.AsMemory(0, random.Next(bytes.Length)));
                return;
            }

            // The server may close while a long line is still being written (after its 421); its reply is read below.
            await TryWriteInPiecesAsync(stream, bytes, random);
            Interlocked.Add(ref _commands, group.Count);
            for (var i = 0; i < group.Count; i++)
            {
                var reply = await reader.ReadAsync(ReplyTimeout);
                if (reply is null)
                {
                    Fail($"no reply to command {i + 1} of a group of {group.Count} (last verb {last}) within {ReplyTimeout.TotalSeconds} s");
                    return;
                }

                Interlocked.Increment(ref _replies);
                if (reply.Code is < 200 or > 599)
                {
                    Fail($"malformed reply {reply}");
                    return;
                }

                if (reply.Code is 421 or 221)
                {
                    Interlocked.Increment(ref _closures);
                    if (await reader.ReadAsync(TimeSpan.FromSeconds(10)) is { } after)
                    {
                        Fail($"a reply after {reply.Code}: {after}");
                    }

                    return;
                }

                if (last == "DATA" && i == group.Count - 1 && reply.Code == 354)
                {
                    if (random.Next(100) < 3)
                    {
                        var partial = Body(random);
                        await stream.WriteAsync(partial.AsMemory(0, random.Next(partial.Length)));
                        return;
                    }

                    await TryWriteInPiecesAsync(stream, Body(random), random);
                    Interlocked.Increment(ref _commands);
                    var final = await reader.ReadAsync(ReplyTimeout);
                    if (final is null)
                    {
                        Fail("no reply to the end of DATA");
                        return;
                    }

                    Interlocked.Increment(ref _replies);
                    if (final.Code is 421)
                    {
                        Interlocked.Increment(ref _closures);
                        return;
                    }
                }
            }
        }
    }

    private static async Task TryWriteInPiecesAsync(NetworkStream stream, byte[] bytes, Random random)
    {
        try
        {
            var offset = 0;
            while (offset < bytes.Length)
            {
                var n = random.Next(4) == 0 ? Math.Min(bytes.Length - offset, random.Next(1, 64)) : bytes.Length - offset;
                await stream.WriteAsync(bytes.AsMemory(offset, n));
                offset += n;
            }
        }
        catch (IOException)
        {
        }
    }

    /// <summary>One command line (exactly one LF, at the end), and its verb.</summary>
    private (byte[] Line, string Verb) Command(Random random, ref int step)
    {
        var verb = random.Next(2) == 0 ? Script[step++ % Script.Length] : Verbs[random.Next(Verbs.Length)];
        if (random.Next(10) == 0)
        {
            verb = verb.ToLowerInvariant();
        }

        var argument = (verb.ToUpperInvariant(), random.Next(10)) switch
        {
            ("EHLO" or "HELO", < 8) => " client.test",
            ("MAIL", < 6) => $" FROM:<{Address(random, "sender.test")}>{Parameters(random)}",
            ("RCPT", < 6) => $" TO:<{Address(random, "alpha.test")}>{Parameters(random)}",
            ("DATA" or "RSET" or "QUIT", < 9) => string.Empty,
            (_, < 3) => string.Empty,
            (_, < 6) => " " + Word(random),
            _ => null,
        };

        byte[] body = argument is null ? Junk(random) : Encoding.UTF8.GetBytes(verb + argument);
        var ending = random.Next(20) == 0 ? "\n"u8.ToArray() : "\r\n"u8.ToArray();
        return ([.. body, .. ending], argument is null ? "JUNK" : verb.ToUpperInvariant());
    }

    private static string Address(Random random, string domain) => random.Next(12) switch
    {
        0 => "\"quoted local\"@" + domain,
        1 => "jörg@" + domain,
        2 => "postmaster",
        3 => string.Empty,
        4 => "no-at-sign",
        5 => "a@bad_domain.test",
        6 => new string('l', random.Next(60, 80)) + "@" + domain,
        _ => $"user{random.Next(1000)}@{domain}",
    };

    private static string Parameters(Random random)
    {
        var count = random.Next(4) == 0 ? random.Next(1, 4) : 0;
        var parts = new List<string>();
        for (var i = 0; i < count; i++)
        {
            parts.Add(random.Next(9) switch
            {
                0 => $"SIZE={random.Next(0, 40_000_000)}",
                1 => "SIZE=abc",
                2 => "BODY=8BITMIME",
                3 => "BODY=BINARYMIME",
                4 => "SMTPUTF8",
                5 => "NOTIFY=SUCCESS",
                6 => "RET=HDRS",
                7 => "X-" + Word(random) + "=" + Word(random),
                _ => "=broken",
            });
        }

        return parts.Count == 0 ? string.Empty : " " + string.Join(' ', parts);
    }

    private static string Word(Random random)
    {
        var chars = new char[random.Next(1, 20)];
        for (var i = 0; i < chars.Length; i++)
        {
            chars[i] = (char)random.Next('a', 'z' + 1);
        }

        return new string(chars);
    }

    /// <summary>A line of arbitrary octets (never LF): control bytes, NUL, broken UTF-8, or far too long.</summary>
    private byte[] Junk(Random random)
    {
        var length = random.Next(10) switch
        {
            0 => random.Next(2_048, MaxJunkLine + 1),
            1 => random.Next(500, 3_000),
            _ => random.Next(0, 80),
        };
        var bytes = new byte[length];
        random.NextBytes(bytes);
        for (var i = 0; i < bytes.Length; i++)
        {
            if (bytes[i] == (byte)'\n')
            {
                bytes[i] = (byte)'x';
            }
        }

        return bytes;
    }

    /// <summary>
    /// A DATA body ending with CRLF.CRLF and containing no earlier end: dot-stuffed lines, lines that start with a dot
    /// unstuffed (".x", not the end), bare CR or LF now and then, over-long lines, sometimes a large body.
    /// </summary>
    private byte[] Body(Random random)
    {
        var output = new MemoryStream();
        var target = random.Next(10) == 0 ? random.Next(10_000, MaxBody + 1) : random.Next(0, 4_000);
        while (output.Length < target)
        {
            var length = random.Next(20) == 0 ? random.Next(999, 3_000) : random.Next(0, 100);
            var line = new byte[length];
            for (var i = 0; i < line.Length; i++)
            {
                line[i] = (byte)random.Next(32, 127);
            }

            if (line.Length > 2 && random.Next(50) == 0)
            {
                line[random.Next(1, line.Length - 1)] = random.Next(2) == 0 ? (byte)'\r' : (byte)'\n';
            }

            if (line.Length > 0 && line[0] == (byte)'.' && random.Next(4) != 0)
            {
                output.WriteByte((byte)'.');
            }

            if (line.Length == 1 && line[0] == (byte)'.')
            {
                output.WriteByte((byte)'.');
            }

            output.Write(line);
            output.Write("\r\n"u8);
        }

        output.Write(".\r\n"u8);
        return output.ToArray();
    }

    /// <summary>Reads SMTP replies (a multi-line reply counts once) from raw bytes, without trusting them to be text.</summary>
    private sealed class ReplyReader(NetworkStream stream)
    {
        private readonly byte[] _buffer = new byte[8192];
        private int _start;
        private int _end;

        public sealed record Reply(int Code, string Text)
        {
            public override string ToString() => $"{Code} {Text}";
        }

        public async Task<Reply?> ReadAsync(TimeSpan timeout)
        {
            using var cts = new CancellationTokenSource(timeout);
            var lines = new List<string>();
            try
            {
                while (true)
                {
                    var line = await ReadLineAsync(cts.Token);
                    if (line is null)
                    {
                        return null;
                    }

                    if (line.Length < 4 || !int.TryParse(line.AsSpan(0, 3), out var code) || line[3] is not (' ' or '-'))
                    {
                        return new Reply(0, line);
                    }

                    lines.Add(line[4..]);
                    if (line[3] == ' ')
                    {
                        return new Reply(code, string.Join(" / ", lines));
                    }
                }
            }
            catch (Exception error) when (error is OperationCanceledException or IOException)
            {
                return null;
            }
        }

        private async Task<string?> ReadLineAsync(CancellationToken cancellationToken)
        {
            while (true)
            {
                var lf = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
                if (lf >= 0)
                {
                    var line = Encoding.ASCII.GetString(_buffer, _start, lf - _start).TrimEnd('\r');
                    _start = lf + 1;
                    return line;
                }

                if (_start > 0)
                {
                    Array.Copy(_buffer, _start, _buffer, 0, _end - _start);
                    _end -= _start;
                    _start = 0;
                }

                if (_end == _buffer.Length)
                {
                    return "000 reply line longer than 8 KiB";
                }

                var read = await stream.ReadAsync(_buffer.AsMemory(_end), cancellationToken);
                if (read == 0)
                {
                    return null;
                }

                _end += read;
            }
        }
    }
}
