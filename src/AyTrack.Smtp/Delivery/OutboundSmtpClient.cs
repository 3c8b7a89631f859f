using System.Buffers;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using AyTrack.Core.Delivery;
using AyTrack.Core.Dsn;
using AyTrack.Core.Smtp;
using MailKit.Security;

namespace AyTrack.Smtp.Delivery;

/// <summary>How a session gets TLS.</summary>
internal enum OutboundTls
{
    /// <summary>Plain text.</summary>
    None,

    /// <summary>STARTTLS when the server offers it, plain text otherwise (RFC 7435 opportunistic).</summary>
    WhenOffered,

    /// <summary>STARTTLS or nothing (RFC 3207).</summary>
    StartTls,

    /// <summary>TLS from the first byte (RFC 8314 implicit TLS).</summary>
    Implicit,
}

/// <summary>The server refused a command outside a mail transaction (its greeting, EHLO, STARTTLS, NOOP).</summary>
internal sealed class SmtpReplyException(ServerReply reply) : Exception(reply.Text)
{
    public ServerReply Reply { get; } = reply;
}

/// <summary>The server broke the protocol: a reply that is not one, too long, or data pushed ahead of TLS.</summary>
internal sealed class SmtpWireException(string message) : IOException(message);

/// <summary>The TLS handshake failed (the certificate was refused, or the server broke off).</summary>
internal sealed class SmtpTlsException(string message, Exception inner) : Exception(message, inner);

/// <summary>STARTTLS is required and the server does not offer it.</summary>
internal sealed class StartTlsUnavailableException(string host) : Exception($"{host} does not offer STARTTLS");

/// <summary>The server refused the login, or offers no way to log in that this client has.</summary>
internal sealed class SmtpLoginException(string message) : Exception(message);

/// <summary>What the server answered to one message: a reply per refused recipient, and the transaction's outcome.</summary>
/// <param name="Accepted">The final 2xx reply when the message was taken for the recipients not refused; null otherwise.</param>
/// <param name="Refused">Why the recipients not refused one by one did not get it (MAIL, DATA or the final reply).</param>
internal sealed record TransactionResult(SmtpReply? Accepted, SmtpReply? Refused, IReadOnlyDictionary<string, SmtpReply> RecipientRefusals);

/// <summary>
/// The outbound SMTP client (RFC 5321): greeting, EHLO (HELO for a server without it), STARTTLS or implicit TLS,
/// AUTH with MailKit's SASL mechanisms, and transactions that send the stored bytes as they are — pipelined
/// (RFC 2920) when offered, passing on the sender's DSN parameters including ORCPT (RFC 3461). Every read and write
/// is bounded by the command timeout, and every reply by size, so a server that stalls or floods costs a deferral,
/// never a worker.
/// </summary>
internal sealed class OutboundSmtpClient : IAsyncDisposable
{
    /// <summary>RFC 5321 §4.5.3.1.5 says 512 octets per reply line; receivers exceed it, but never by this much.</summary>
    private const int MaxReplyLine = 4096;

    /// <summary>An EHLO reply has a line per extension; nothing needs more.</summary>
    private const int MaxReplyLines = 100;

    /// <summary>Data goes out in writes of this size (a 4 KB message and its commands are one write).</summary>
    private const int WriteBuffer = 64 * 1024;

    private static readonly string[] MechanismPreference = ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN", "LOGIN", "CRAM-MD5"];

    private readonly Socket _socket;
    private readonly TimeSpan _timeout;
    private readonly byte[] _input = new byte[MaxReplyLine + 2];
    private Stream _stream;
    private int _inputStart;
    private int _inputEnd;
    private bool _broken;

    private OutboundSmtpClient(Socket socket, string host, string localDomain, TimeSpan timeout)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
        Host = host;
        LocalDomain = localDomain;
        _timeout = timeout;
    }

    public string Host { get; }

    /// <summary>The name this client greets with.</summary>
    public string LocalDomain { get; }

    public bool IsSecure { get; private set; }

    public bool IsConnected => !_broken && _socket.Connected;

    public EhloOffer Offer { get; private set; } = EhloOffer.Nothing;

    /// <summary>
    /// Takes over a connected socket: TLS first for <see cref="OutboundTls.Implicit"/>, the greeting, EHLO, and
    /// STARTTLS as <paramref name="tls"/> asks, with a second EHLO after it (RFC 3207 §4.2).
    /// </summary>
    public static async Task<OutboundSmtpClient> ConnectAsync(Socket socket, string host, OutboundTls tls, RemoteCertificateValidationCallback validation,
        string localDomain, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var client = new OutboundSmtpClient(socket, host, localDomain, timeout);
        try
        {
            if (tls == OutboundTls.Implicit)
            {
                await client.HandshakeAsync(validation, cancellationToken);
            }

            var greeting = await client.ReadReplyAsync(cancellationToken);
            if (greeting.Code != 220)
            {
                throw new SmtpReplyException(greeting);
            }

            await client.HelloAsync(cancellationToken);
            if (tls is OutboundTls.WhenOffered or OutboundTls.StartTls && !client.IsSecure)
            {
                if (!client.Offer.Has(SmtpExtensions.StartTls))
                {
                    if (tls == OutboundTls.StartTls)
                    {
                        throw new StartTlsUnavailableException(host);
                    }
                }
                else
                {
                    var ready = await client.CommandAsync("STARTTLS", cancellationToken);
                    if (ready.Code == 220)
                    {
                        await client.HandshakeAsync(validation, cancellationToken);
                        await client.HelloAsync(cancellationToken);
                    }
                    else if (tls == OutboundTls.StartTls)
                    {
                        throw new SmtpReplyException(ready);
                    }

                    // Otherwise (454 and the like) the session goes on in plain text, as it would have without the offer.
                }
            }

            return client;
        }
        catch
        {
            client.Abort();
            throw;
        }
    }

    /// <summary>
    /// Logs in (RFC 4954) with the strongest mechanism both sides have. The password goes only into the SASL
    /// exchange, never into an exception or a log.
    /// </summary>
    public async Task AuthenticateAsync(string user, string password, CancellationToken cancellationToken)
    {
        var name = MechanismPreference.FirstOrDefault(m => Offer.AuthMechanisms.Contains(m) && SaslMechanism.IsSupported(m))
                   ?? throw new SmtpLoginException(Offer.AuthMechanisms.Count == 0
                       ? "the server offers no login (AUTH)"
                       : $"the server offers no login mechanism this client has ({string.Join(' ', Offer.AuthMechanisms)})");
        var sasl = SaslMechanism.Create(name, new NetworkCredential(user, password))
                   ?? throw new SmtpLoginException($"the {name} mechanism is not available");
        var command = "AUTH " + name;
        if (sasl.SupportsInitialResponse)
        {
            var initial = await sasl.ChallengeAsync(null, cancellationToken);
            command += " " + (initial.Length == 0 ? "=" : initial);
        }

        var reply = await CommandAsync(command, cancellationToken);
        for (var round = 0; reply.Code == 334; round++)
        {
            string response;
            try
            {
                response = round > 10 ? "*" : await sasl.ChallengeAsync(reply.Text.Trim(), cancellationToken);
            }
            catch (SaslException)
            {
                // RFC 4954 §4: "*" cancels the exchange.
                response = "*";
            }

            reply = await CommandAsync(response, cancellationToken);
        }

        if (reply.Code != 235)
        {
            throw new SmtpLoginException($"{reply.Code} {reply.Text}");
        }
    }

    /// <summary>
    /// One mail transaction. MAIL, every RCPT and DATA are one write when the server pipelines; the data goes only
    /// after a 354 and only when a recipient was accepted. A failed transaction is followed by RSET so the session can
    /// carry the next message.
    /// </summary>
    public async Task<TransactionResult> SendAsync(string sender, IReadOnlyList<string> recipients, ReadOnlyMemory<byte> body, bool smtpUtf8,
        DsnOptions? dsn, CancellationToken cancellationToken)
    {
        var refusals = new Dictionary<string, SmtpReply>(StringComparer.OrdinalIgnoreCase);
        if (Offer.Has(SmtpExtensions.Size) && Offer.MaxSize > 0 && body.Length > Offer.MaxSize)
        {
            // RFC 1870 §6: the server's fixed limit; sending would only be refused after the whole transfer.
            return new TransactionResult(null, new SmtpReply(552, "5.3.4", $"The message ({body.Length} bytes) is larger than {Host} takes ({Offer.MaxSize} bytes)"),
                refusals);
        }

        var mail = OutboundCommands.MailFrom(sender, Offer, body.Length, SmtpData.IsEightBit(body.Span), smtpUtf8, dsn);
        var rcpts = recipients.Select(r => OutboundCommands.RcptTo(r, Offer, dsn)).ToList();
        try
        {
            var pipelined = Offer.Has(SmtpExtensions.Pipelining);
            if (pipelined)
            {
                await WriteCommandsAsync([mail, .. rcpts, "DATA"], cancellationToken);
            }

            var mailReply = await TransactionReplyAsync(pipelined ? null : mail, cancellationToken);
            var accepted = 0;
            if (mailReply.Positive || pipelined)
            {
                for (var i = 0; i < rcpts.Count; i++)
                {
                    var rcptReply = await TransactionReplyAsync(pipelined ? null : rcpts[i], cancellationToken);
                    if (rcptReply.Positive)
                    {
                        accepted++;
                    }
                    else if (mailReply.Positive)
                    {
                        refusals[recipients[i]] = rcptReply.ToReply();
                    }
                }
            }

            ServerReply? dataReply = null;
            if (pipelined)
            {
                try
                {
                    dataReply = await TransactionReplyAsync(null, cancellationToken);
                }
                catch (Exception error) when (error is IOException or TimeoutException && (!mailReply.Positive || accepted == 0))
                {
                    // Some servers hang up on a client whose every recipient they refused, before answering DATA. The
                    // replies that matter are in: the transaction's outcome stands, only the session is over.
                    Abort();
                    ClosedBecause = new SmtpReply(451, "4.4.2", $"{Host} closed the connection after refusing the transaction");
                }
            }
            else if (mailReply.Positive && accepted > 0)
            {
                dataReply = await TransactionReplyAsync("DATA", cancellationToken);
            }

            if (!mailReply.Positive || accepted == 0 || dataReply is not { Code: 354 })
            {
                if (dataReply is { Code: 354 })
                {
                    // RFC 2920 §3.1: a server that says 354 with no recipient gets an empty message, which it must refuse.
                    await WriteAsync(".\r\n"u8.ToArray(), cancellationToken);
                    await TransactionReplyAsync(null, cancellationToken);
                }

                var why = !mailReply.Positive ? mailReply.ToReply() : accepted > 0 && dataReply is { } data
                    ? data.Positive ? new SmtpReply(451, "4.5.0", $"{Host} answered DATA with {data} instead of 354") : data.ToReply()
                    : new SmtpReply(554, "5.5.1", "No valid recipients");
                if (ClosedBecause is null)
                {
                    await ResetAsync(cancellationToken);
                }

                return new TransactionResult(null, why, refusals);
            }

            await WriteDataAsync(body, cancellationToken);
            var final = await TransactionReplyAsync(null, cancellationToken);
            if (final.Positive)
            {
                return new TransactionResult(final.ToReply(), null, refusals);
            }

            await ResetAsync(cancellationToken);
            return new TransactionResult(null, final.ToReply(), refusals);
        }
        catch (ServiceClosingException closing)
        {
            // RFC 5321 §3.8: 421 closes the channel. Recipients refused before keep their reply; the rest get this one.
            Abort();
            ClosedBecause = closing.Reply.ToReply();
            return new TransactionResult(null, ClosedBecause, refusals);
        }
    }

    /// <summary>Why the server closed the session (a 421), when it did.</summary>
    public SmtpReply? ClosedBecause { get; private set; }

    /// <summary>Sends <paramref name="command"/> unless it went out pipelined, and reads its reply; a 421 ends the transaction.</summary>
    private async Task<ServerReply> TransactionReplyAsync(string? command, CancellationToken cancellationToken)
    {
        var reply = command is null ? await ReadReplyAsync(cancellationToken) : await CommandAsync(command, cancellationToken);
        return reply.Code == 421 ? throw new ServiceClosingException(reply) : reply;
    }

    private sealed class ServiceClosingException(ServerReply reply) : Exception(reply.Text)
    {
        public ServerReply Reply { get; } = reply;
    }

    /// <summary>RFC 5321 §4.1.1.9: whether the session still answers.</summary>
    public async Task NoOpAsync(CancellationToken cancellationToken)
    {
        var reply = await CommandAsync("NOOP", cancellationToken);
        if (!reply.Positive)
        {
            throw new SmtpReplyException(reply);
        }
    }

    /// <summary>Ends the session politely (RFC 5321 §4.1.1.10); whatever the server answers, the connection closes.</summary>
    public async Task QuitAsync(CancellationToken cancellationToken)
    {
        try
        {
            if (IsConnected)
            {
                await CommandAsync("QUIT", cancellationToken);
            }
        }
        finally
        {
            Abort();
        }
    }

    public ValueTask DisposeAsync()
    {
        Abort();
        return ValueTask.CompletedTask;
    }

    private void Abort()
    {
        _broken = true;
        _stream.Dispose();
    }

    private async Task HelloAsync(CancellationToken cancellationToken)
    {
        var reply = await CommandAsync("EHLO " + LocalDomain, cancellationToken);
        if (reply.Positive)
        {
            Offer = EhloOffer.Parse(reply.Text.Split('\n').Skip(1));
            return;
        }

        // RFC 5321 §3.2: a server that does not know EHLO says so with a 5xx; HELO then opens a session without extensions.
        if (reply.Code is >= 500 and < 600)
        {
            var helo = await CommandAsync("HELO " + LocalDomain, cancellationToken);
            if (helo.Positive)
            {
                Offer = EhloOffer.Nothing;
                return;
            }

            throw new SmtpReplyException(helo);
        }

        throw new SmtpReplyException(reply);
    }

    private async Task HandshakeAsync(RemoteCertificateValidationCallback validation, CancellationToken cancellationToken)
    {
        if (_inputEnd > _inputStart)
        {
            // RFC 3207 §6: anything the server sent after its 220 would be read as if it came over TLS (command injection).
            throw new SmtpWireException($"{Host} sent data ahead of the TLS handshake");
        }

        var tls = new SslStream(_stream, leaveInnerStreamOpen: false);
        try
        {
            using var deadline = Deadline(cancellationToken);
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = Host,
                RemoteCertificateValidationCallback = validation,
                CertificateRevocationCheckMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck,
            }, deadline.Token);
        }
        catch (Exception error) when (error is System.Security.Authentication.AuthenticationException or IOException)
        {
            await tls.DisposeAsync();
            throw new SmtpTlsException(error.InnerException is { } inner ? $"{error.Message} ({inner.Message})" : error.Message, error);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            await tls.DisposeAsync();
            throw new TimeoutException($"{Host} did not complete the TLS handshake within {_timeout.TotalSeconds:0} s");
        }

        _stream = tls;
        IsSecure = true;
    }

    private async Task ResetAsync(CancellationToken cancellationToken)
    {
        try
        {
            if (!(await CommandAsync("RSET", cancellationToken)).Positive)
            {
                _broken = true;
            }
        }
        catch (Exception error) when (error is IOException or TimeoutException or SocketException or ObjectDisposedException)
        {
            // The message's outcome is decided; a session that cannot reset is just not used again.
            _broken = true;
        }
    }

    private async Task<ServerReply> CommandAsync(string command, CancellationToken cancellationToken)
    {
        await WriteCommandsAsync([command], cancellationToken);
        return await ReadReplyAsync(cancellationToken);
    }

    private Task WriteCommandsAsync(IReadOnlyList<string> commands, CancellationToken cancellationToken)
    {
        var length = commands.Sum(c => Encoding.UTF8.GetByteCount(c) + 2);
        var bytes = new byte[length];
        var at = 0;
        foreach (var command in commands)
        {
            at += Encoding.UTF8.GetBytes(command, bytes.AsSpan(at));
            bytes[at++] = (byte)'\r';
            bytes[at++] = (byte)'\n';
        }

        return WriteAsync(bytes, cancellationToken);
    }

    private async Task WriteDataAsync(ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Min(WriteBuffer, body.Length + 64));
        try
        {
            var used = 0;
            foreach (var piece in SmtpData.Pieces(body))
            {
                if (used + piece.Length > buffer.Length && used > 0)
                {
                    await WriteAsync(buffer.AsMemory(0, used), cancellationToken);
                    used = 0;
                }

                if (piece.Length > buffer.Length)
                {
                    await WriteAsync(piece, cancellationToken);
                    continue;
                }

                piece.Span.CopyTo(buffer.AsSpan(used));
                used += piece.Length;
            }

            await WriteAsync(buffer.AsMemory(0, used), cancellationToken);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private async Task WriteAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        using var deadline = Deadline(cancellationToken);
        try
        {
            await _stream.WriteAsync(bytes, deadline.Token);
            await _stream.FlushAsync(deadline.Token);
        }
        catch (Exception error) when (Broke(error, cancellationToken))
        {
            throw new TimeoutException($"{Host} did not answer within {_timeout.TotalSeconds:0} s");
        }
    }

    /// <summary>Reads one reply, every line bounded, all lines with the same code (RFC 5321 §4.2.1).</summary>
    private async Task<ServerReply> ReadReplyAsync(CancellationToken cancellationToken)
    {
        using var deadline = Deadline(cancellationToken);
        try
        {
            var text = new StringBuilder();
            var code = 0;
            for (var lines = 1; ; lines++)
            {
                var line = await ReadLineAsync(deadline.Token);
                if (!ServerReply.TryParseLine(line.Span, out var lineCode, out var last, out var lineText) || (code != 0 && lineCode != code))
                {
                    throw new SmtpWireException($"{Host} sent something that is not an SMTP reply");
                }

                if (lines > MaxReplyLines)
                {
                    throw new SmtpWireException($"{Host} sent a reply of more than {MaxReplyLines} lines");
                }

                code = lineCode;
                if (text.Length > 0)
                {
                    text.Append('\n');
                }

                text.Append(lineText);
                if (last)
                {
                    return new ServerReply(code, text.ToString());
                }
            }
        }
        catch (Exception error) when (Broke(error, cancellationToken))
        {
            throw new TimeoutException($"{Host} did not answer within {_timeout.TotalSeconds:0} s");
        }
    }

    private async Task<ReadOnlyMemory<byte>> ReadLineAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var lf = _input.AsSpan(_inputStart, _inputEnd - _inputStart).IndexOf((byte)'\n');
            if (lf >= 0)
            {
                var line = _input.AsMemory(_inputStart, lf);
                _inputStart += lf + 1;
                return line.Length > 0 && line.Span[^1] == (byte)'\r' ? line[..^1] : line;
            }

            if (_inputEnd - _inputStart >= MaxReplyLine)
            {
                throw new SmtpWireException($"{Host} sent a reply line longer than {MaxReplyLine} bytes");
            }

            if (_inputStart > 0)
            {
                // The line returned last is no longer needed (its text was copied): move what is left to the front.
                Buffer.BlockCopy(_input, _inputStart, _input, 0, _inputEnd - _inputStart);
                _inputEnd -= _inputStart;
                _inputStart = 0;
            }

            var read = await _stream.ReadAsync(_input.AsMemory(_inputEnd), cancellationToken);
            if (read == 0)
            {
                throw new IOException($"{Host} closed the connection");
            }

            _inputEnd += read;
        }
    }

    private CancellationTokenSource Deadline(CancellationToken cancellationToken)
    {
        var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(_timeout);
        return deadline;
    }

    /// <summary>
    /// Any failure on the wire leaves the session in an unknown state: it is not used again. True for the command
    /// timeout (turned into a <see cref="TimeoutException"/>); everything else goes on as it is.
    /// </summary>
    private bool Broke(Exception error, CancellationToken cancellationToken)
    {
        _broken = true;
        return error is OperationCanceledException && !cancellationToken.IsCancellationRequested;
    }
}
