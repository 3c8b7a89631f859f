using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Text;
using AyTrack.Core.Addresses;
using AyTrack.Core.Dsn;
using AyTrack.Core.Configuration;
using AyTrack.Core.Delivery;
using AyTrack.Core.Messages;
using AyTrack.Core.Smtp;
using AyTrack.Core.Spool;
using AyTrack.Core.Users;
using Microsoft.Extensions.Logging;

namespace AyTrack.Smtp.Listener;

/// <summary>
/// One SMTP conversation (RFC 5321) over a pipe pair. Every read is bounded: a command line by MaxLineLength (the
/// excess discarded as it arrives), the data by the shared buffer budget and MaxMessageSize, and each wait by
/// CommandTimeout or DataTimeout. Every command gets a reply; replies to pipelined commands (RFC 2920) go out together
/// once no further complete command is waiting.
/// </summary>
internal sealed class SmtpSession
{
    /// <summary>Protocol errors (unknown commands, bad syntax, bad sequence) tolerated before 421; policy replies do not count.</summary>
    public const int MaxErrors = 20;

    /// <summary>RFC 4954 §4: an AUTH command or response line may be 12,288 octets long, longer than other commands.</summary>
    public const int MaxAuthLineLength = 12_288;

    private static readonly IReadOnlySet<string> MailParameters = new HashSet<string>(["SIZE", "BODY", "SMTPUTF8", "RET", "ENVID", "AUTH"]);
    private static readonly IReadOnlySet<string> RcptParameters = new HashSet<string>(["NOTIFY", "ORCPT"]);
    private static readonly UTF8Encoding StrictUtf8 = new(false, throwOnInvalidBytes: true);

    private readonly SessionTransport _io;
    private readonly ListenerMode _mode;
    private readonly SessionServices _services;
    private readonly CancellationToken _shutdown;
    private readonly CancellationTokenSource _timer;
    private readonly ListenerOptions _options;

    private string? _helo;
    private string _protocol = "ESMTP";
    private SubmissionUser? _user;
    private int _errors;
    private Transaction? _transaction;

    public SmtpSession(SessionTransport transport, IPEndPoint peer, ListenerMode mode, SessionServices services, CancellationToken shutdown)
    {
        _io = transport;
        _mode = mode;
        Peer = peer;
        _services = services;
        _options = services.Options;
        _shutdown = shutdown;
        _timer = CancellationTokenSource.CreateLinkedTokenSource(shutdown);
    }

    public IPEndPoint Peer { get; private set; }

    /// <summary>Between an accepted MAIL FROM and the reply to its data (or RSET): a graceful stop waits for this.</summary>
    public bool InTransaction => _transaction is not null;

    private sealed class Transaction(string sender, bool smtpUtf8)
    {
        public string Sender { get; } = sender;

        public bool SmtpUtf8 { get; } = smtpUtf8;

        public List<EmailAddress> Recipients { get; } = [];

        public DsnReturn? Return { get; init; }

        public string? EnvelopeId { get; init; }

        /// <summary>NOTIFY and ORCPT of the recipients that gave them (RFC 3461 §4.1, §4.2).</summary>
        public Dictionary<string, DsnRecipient> DsnRecipients { get; } = new(StringComparer.Ordinal);

        public DsnOptions? Dsn => Return is null && EnvelopeId is null && DsnRecipients.Count == 0
            ? null
            : new DsnOptions(Return, EnvelopeId, DsnRecipients);
    }

    private enum LineStatus
    {
        Line,
        TooLong,
        Closed,
    }

    /// <summary>AUTH is offered by a listener that can check credentials, once TLS protects them (or when plaintext AUTH is allowed for tests).</summary>
    private bool AuthOffered => _services.Authenticator is not null && (_io.IsTls || _options.AllowPlaintextAuth);

    private bool StartTlsOffered => _services.Certificate is not null && !_io.IsTls;

    /// <summary>The longest line read before its verb is known: AUTH's, when AUTH can be used, else the command limit.</summary>
    private int ReadLimit => _services.Authenticator is not null ? Math.Max(_options.MaxLineLength, MaxAuthLineLength) : _options.MaxLineLength;

    public async Task RunAsync()
    {
        try
        {
            if (_services.ProxyFrom.Contains(Peer.Address) && !await ReadProxyHeaderAsync())
            {
                return;
            }

            // RFC 8314 §3: on the implicit-TLS port, TLS starts before the greeting.
            if (_mode == ListenerMode.ImplicitTls && !await StartTlsHandshakeAsync())
            {
                return;
            }

            if (_services.Stopping)
            {
                await ReplyAsync(ListenerReplies.ShuttingDownGreeting(_services.ServerName), flush: true);
                return;
            }

            if (_services.Authenticator?.IsLockedOut(Peer.Address) == true)
            {
                await ReplyAsync(ListenerReplies.TooManyAuthFailures, flush: true);
                return;
            }

            await ReplyAsync(ListenerReplies.Greeting(_services.ServerName), flush: true);
            while (true)
            {
                var (status, line) = await ReadLineAsync(ReadLimit, _options.CommandTimeout);
                if (status == LineStatus.Closed)
                {
                    return;
                }

                var keepGoing = status switch
                {
                    LineStatus.TooLong when IsAuth(line!) => await ProtocolErrorAsync(ListenerReplies.AuthLineTooLong),
                    LineStatus.TooLong => await ProtocolErrorAsync(ListenerReplies.LineTooLong(_options.MaxLineLength)),
                    _ when line!.Length > _options.MaxLineLength && !IsAuth(line) => await ProtocolErrorAsync(ListenerReplies.LineTooLong(_options.MaxLineLength)),
                    _ => await HandleAsync(line!),
                };
                if (!keepGoing)
                {
                    return;
                }

                if (!HasCompleteLineBuffered())
                {
                    await FlushAsync();
                }
            }
        }
        catch (OperationCanceledException) when (_shutdown.IsCancellationRequested)
        {
            await TryReplyAsync(ListenerReplies.ShuttingDown);
        }
        catch (OperationCanceledException)
        {
            _services.Warn(Peer.Address, "timed out (no command or data within the timeout); answered 421 4.4.2");
            await TryReplyAsync(ListenerReplies.Timeout);
        }
        catch (Exception error) when (error is IOException or System.Net.Sockets.SocketException or ObjectDisposedException or InvalidOperationException)
        {
            // The client went away (reset, broken pipe): nothing to answer.
        }
        finally
        {
            _transaction = null;
            _timer.Dispose();
        }
    }

    private async Task<bool> HandleAsync(byte[] raw)
    {
        if (raw.Length < 2 || raw[^2] != (byte)'\r')
        {
            return await ProtocolErrorAsync(ListenerReplies.BareLineFeedInCommand);
        }

        string line;
        try
        {
            line = StrictUtf8.GetString(raw, 0, raw.Length - 2);
        }
        catch (DecoderFallbackException)
        {
            return await ProtocolErrorAsync(ListenerReplies.BadCommandBytes);
        }

        if (line.Any(c => char.IsControl(c) && c != '\t'))
        {
            return await ProtocolErrorAsync(ListenerReplies.BadCommandBytes);
        }

        var (verb, argument) = SmtpCommandParser.Split(line);
        switch (verb)
        {
            case "EHLO":
            case "HELO":
                return await HeloAsync(verb, argument.Trim());
            case "MAIL":
                return await MailAsync(argument);
            case "RCPT":
                return await RcptAsync(argument);
            case "DATA":
                return await DataAsync(argument);
            case "RSET":
                if (argument.Length > 0)
                {
                    return await ProtocolErrorAsync(ListenerReplies.NoArgumentsAllowed(verb));
                }

                _transaction = null;
                return await ReplyAsync(ListenerReplies.Ok);
            case "NOOP":
                // RFC 5321 §4.1.1.9: a parameter is allowed and ignored.
                return await ReplyAsync(ListenerReplies.Ok);
            case "QUIT":
                await ReplyAsync(ListenerReplies.Bye, flush: true);
                return false;
            case "VRFY":
                return await ReplyAsync(ListenerReplies.CannotVerify);
            case "HELP":
                return await ReplyAsync(ListenerReplies.Help);
            case "STARTTLS":
                return await StartTlsAsync(argument);
            case "AUTH":
                return await AuthAsync(argument);
            case "EXPN":
            case "TURN":
            case "ETRN":
            case "BDAT":
                return await ProtocolErrorAsync(ListenerReplies.NotImplemented);
            default:
                // PROXY from a network not in ProxyProtocolFrom lands here too: an unknown command.
                return await ProtocolErrorAsync(ListenerReplies.UnknownCommand);
        }
    }

    private async Task<bool> HeloAsync(string verb, string argument)
    {
        if (argument.Length == 0 || argument.Contains(' '))
        {
            return await ProtocolErrorAsync(ListenerReplies.HeloNeedsDomain(verb));
        }

        // RFC 5321 §4.1.4: EHLO/HELO resets any transaction.
        _transaction = null;
        _helo = argument;
        _protocol = verb == "EHLO" ? "ESMTP" : "SMTP";
        if (verb == "HELO")
        {
            return await ReplyAsync(new SmtpReply(250, null, _services.ServerName));
        }

        List<string> lines =
        [
            $"{_services.ServerName} Hello {SmtpCommandParser.Printable(argument)}",
            $"SIZE {_options.MaxMessageSize}",
            "PIPELINING",
            "8BITMIME",
            "SMTPUTF8",
            "ENHANCEDSTATUSCODES",
            "DSN",
        ];
        if (StartTlsOffered)
        {
            lines.Add("STARTTLS");
        }

        if (AuthOffered && _user is null)
        {
            lines.Add("AUTH PLAIN LOGIN");
        }

        for (var i = 0; i < lines.Count; i++)
        {
            Write(250, lines[i], last: i == lines.Count - 1);
        }

        return true;
    }

    private async Task<bool> MailAsync(string argument)
    {
        if (_services.Stopping)
        {
            await ReplyAsync(ListenerReplies.ShuttingDown, flush: true);
            return false;
        }

        if (_helo is null)
        {
            return await ProtocolErrorAsync(ListenerReplies.BadSequence("Send EHLO or HELO first"));
        }

        if (_transaction is not null)
        {
            return await ProtocolErrorAsync(ListenerReplies.BadSequence("Nested MAIL command: a transaction is already open (RSET first)"));
        }

        // The submission listeners relay only for authenticated clients (RFC 6409 §4.1); the relay listener also for its networks.
        if (_user is null && _mode != ListenerMode.Relay)
        {
            return await ReplyAsync(_io.IsTls ? ListenerReplies.AuthenticationRequired : ListenerReplies.TlsFirst);
        }

        if (_user is null && !_services.AllowedNetworks.Contains(Peer.Address))
        {
            return await ReplyAsync(ListenerReplies.RelayDenied(Peer.Address.ToString()));
        }

        if (!SmtpCommandParser.TryParsePath(argument, isMail: true, MailParameters, out var command, out var error))
        {
            return await ProtocolErrorAsync(error);
        }

        // RFC 1870 §6.1: a declared size over the limit is refused at MAIL, before any data is sent.
        if (command.Parameter("SIZE") is { } size && (!long.TryParse(size, out var declared) || declared > _options.MaxMessageSize))
        {
            return await ReplyAsync(ListenerReplies.TooBig(_options.MaxMessageSize));
        }

        var utf8 = command.Has("SMTPUTF8");
        var sender = string.Empty;
        if (command.Mailbox.Length > 0)
        {
            if (!EmailAddress.TryParse(command.Mailbox, out var address, out var problem))
            {
                return await ReplyAsync(ListenerReplies.BadSender(SmtpCommandParser.Printable(problem)));
            }

            if (!utf8 && (address.IsInternational || HasNonAscii(command.Mailbox)))
            {
                return await ReplyAsync(ListenerReplies.Utf8NotAnnounced);
            }

            sender = address.Address;
        }

        if (_user is not null && !_user.MaySendFrom(sender))
        {
            return await ReplyAsync(ListenerReplies.SenderNotAllowed(SmtpCommandParser.Printable(sender)));
        }

        // The values were checked by the parser (501 5.5.4 otherwise); these only read them.
        DsnReturn? ret = command.Parameter("RET") is { } retText && DsnParameters.ParseReturn(retText, out var parsedReturn) is null ? parsedReturn : null;
        string? envelopeId = command.Parameter("ENVID") is { } envText && DsnParameters.ParseEnvelopeId(envText, out var parsedId) is null ? parsedId : null;
        _transaction = new Transaction(sender, utf8) { Return = ret, EnvelopeId = envelopeId };
        return await ReplyAsync(ListenerReplies.SenderOk);
    }

    private async Task<bool> RcptAsync(string argument)
    {
        if (_transaction is null)
        {
            return await ProtocolErrorAsync(ListenerReplies.BadSequence("Send MAIL FROM first"));
        }

        if (!SmtpCommandParser.TryParsePath(argument, isMail: false, RcptParameters, out var command, out var error))
        {
            return await ProtocolErrorAsync(error);
        }

        // RFC 5321 §4.5.1: "postmaster" without a domain must be accepted; it goes to the configured address.
        var mailbox = command.Mailbox == "postmaster" ? _services.PostmasterAddress : command.Mailbox;
        if (_transaction.Recipients.Count >= _options.MaxRecipients)
        {
            return await ReplyAsync(ListenerReplies.TooManyRecipients(_options.MaxRecipients));
        }

        if (!EmailAddress.TryParse(mailbox, out var address, out var problem))
        {
            return await ReplyAsync(ListenerReplies.BadRecipient(SmtpCommandParser.Printable(problem)));
        }

        if (!_transaction.SmtpUtf8 && (address.IsInternational || HasNonAscii(mailbox)))
        {
            return await ReplyAsync(ListenerReplies.Utf8NotAnnounced);
        }

        if (!_transaction.Recipients.Contains(address))
        {
            _transaction.Recipients.Add(address);
        }

        DsnNotify? notify = command.Parameter("NOTIFY") is { } notifyText && DsnParameters.ParseNotify(notifyText, out var parsedNotify) is null
            ? parsedNotify
            : null;
        string? originalType = null, original = null;
        if (command.Parameter("ORCPT") is { } orcpt && DsnParameters.ParseOriginalRecipient(orcpt, out var type, out var decoded) is null)
        {
            (originalType, original) = (type, decoded);
        }

        if (notify is not null || original is not null)
        {
            _transaction.DsnRecipients[address.Address] = new DsnRecipient(notify, originalType, original);
        }

        return await ReplyAsync(ListenerReplies.RecipientOk);
    }

    private async Task<bool> DataAsync(string argument)
    {
        if (argument.Length > 0)
        {
            return await ProtocolErrorAsync(ListenerReplies.NoArgumentsAllowed("DATA"));
        }

        if (_transaction is null)
        {
            return await ProtocolErrorAsync(ListenerReplies.BadSequence("Send MAIL FROM and RCPT TO first"));
        }

        if (_transaction.Recipients.Count == 0)
        {
            // RFC 2920 §3.1: with pipelining, DATA after failed RCPTs gets 554, and the data that follows is then
            // read as commands, which is the client's to avoid.
            return await ReplyAsync(ListenerReplies.NoValidRecipients);
        }

        await ReplyAsync(ListenerReplies.StartData, flush: true);
        using var message = new IncomingMessage(_services.Budget, _services.SpillDirectory);
        var receiver = new DataReceiver(_options.MaxMessageSize, message);
        while (!receiver.Completed)
        {
            _timer.CancelAfter(_options.DataTimeout);
            var result = await _io.Input.ReadAsync(_timer.Token);
            _timer.CancelAfter(Timeout.Infinite);
            var consumed = receiver.Consume(result.Buffer);
            _io.Input.AdvanceTo(result.Buffer.GetPosition(consumed));
            if (!receiver.Completed && result.IsCompleted)
            {
                // The client left in the middle of its data: nothing was accepted, nothing to answer.
                _transaction = null;
                return false;
            }
        }

        // The transaction stays open (a graceful stop waits for it) until its message is stored and answered.
        var reply = receiver.Verdict switch
        {
            DataProblem.TooBig => ListenerReplies.TooBig(_options.MaxMessageSize),
            DataProblem.BareLineEnding => ListenerReplies.BareLineEnding,
            DataProblem.LineTooLong => ListenerReplies.LineTooLongInData,
            _ when message.Failed => ListenerReplies.InsufficientStorage,
            _ => await AcceptAsync(_transaction, message),
        };
        _transaction = null;
        return await ReplyAsync(reply);
    }

    /// <summary>The one 250-or-not decision: "250" only after the spool has made body, envelope and recipients durable.</summary>
    private async Task<SmtpReply> AcceptAsync(Transaction transaction, IncomingMessage message)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            var id = QueueId.New();
            var now = DateTimeOffset.UtcNow;
            var protocol = ReceivedProtocol(transaction.SmtpUtf8);
            var received = Encoding.UTF8.GetBytes(MessageData.ReceivedHeader(_helo ?? "unknown", Peer.Address.ToString(), _services.ServerName,
                protocol, id.Value, transaction.Recipients.Count == 1 ? transaction.Recipients[0].Address : null, now));
            var messageId = MessageData.FindHeader(message.ReadHead(64 * 1024), "Message-ID");
            var envelope = new SpoolEnvelope(id, transaction.Sender, transaction.Recipients, now, transaction.SmtpUtf8, messageId)
            {
                Dsn = transaction.Dsn,
                AuthenticatedUser = _user?.Name,
            };

            // Signed once, here, before the 250: the signature fields go in front of the unchanged octets.
            var signature = _services.Signing?.SignatureFor(message.Content(ReadOnlyMemory<byte>.Empty)) ?? ReadOnlyMemory<byte>.Empty;
            var prefix = signature.IsEmpty ? received : [.. signature.Span, .. received];

            // Not the session's token: once the data is in, a stopping listener still finishes storing it.
            await _services.Spool.AcceptAsync(envelope, message.Content(prefix), CancellationToken.None);
            _services.Metrics?.Accepted("smtp", System.Diagnostics.Stopwatch.GetElapsedTime(started));
            _services.Logger.LogInformation("Accepted {QueueId} from {Peer}{User}: {Size} bytes, sender <{Sender}>, {Recipients} recipient(s)",
                id, Peer.Address, _user is null ? string.Empty : $" (user {_user.Name})", message.Length, transaction.Sender, transaction.Recipients.Count);
            return ListenerReplies.Queued(id.Value);
        }
        catch (Exception error)
        {
            _services.Logger.LogError(error, "Spool write failed; answered 451 so the client retries");
            return ListenerReplies.TemporaryFailure;
        }
    }

    private async Task<bool> ReadProxyHeaderAsync()
    {
        while (true)
        {
            _timer.CancelAfter(_options.CommandTimeout);
            var result = await _io.Input.ReadAsync(_timer.Token);
            _timer.CancelAfter(Timeout.Infinite);
            var status = ProxyHeader.TryParse(result.Buffer, out var source, out var length, out var reason);
            switch (status)
            {
                case ProxyHeader.Status.Parsed:
                    _io.Input.AdvanceTo(result.Buffer.GetPosition(length));
                    if (source is not null)
                    {
                        if (!_services.Limiter.TryMove(Peer.Address, source.Address))
                        {
                            await ReplyAsync(ListenerReplies.TooManyConnections, flush: true);
                            return false;
                        }

                        Peer = source;
                    }

                    return true;
                case ProxyHeader.Status.Invalid:
                    _services.Warn(Peer.Address, $"sent an invalid PROXY header ({reason}); answered 421 4.7.0");
                    await ReplyAsync(ListenerReplies.BadProxyHeader(reason), flush: true);
                    return false;
                default:
                    _io.Input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
                    if (result.IsCompleted)
                    {
                        return false;
                    }

                    break;
            }
        }
    }

    /// <summary>
    /// Reads one line up to and including its LF. A line longer than <paramref name="max"/> octets is not kept: its
    /// octets are dropped as they arrive until its LF, and <see cref="LineStatus.TooLong"/> is returned.
    /// </summary>
    private async Task<(LineStatus, byte[]?)> ReadLineAsync(int max, TimeSpan timeout)
    {
        var discarding = false;
        byte[]? prefix = null;
        while (true)
        {
            _timer.CancelAfter(timeout);
            var result = await _io.Input.ReadAsync(_timer.Token);
            _timer.CancelAfter(Timeout.Infinite);
            var buffer = result.Buffer;
            var lf = buffer.PositionOf((byte)'\n');
            if (lf is not null)
            {
                var next = buffer.GetPosition(1, lf.Value);
                var length = buffer.Slice(0, next).Length;
                if (discarding || length > max)
                {
                    prefix ??= buffer.Slice(0, Math.Min(buffer.Length, 8)).ToArray();
                    _io.Input.AdvanceTo(next);
                    return (LineStatus.TooLong, prefix);
                }

                var line = buffer.Slice(0, next).ToArray();
                _io.Input.AdvanceTo(next);
                return (LineStatus.Line, line);
            }

            if (buffer.Length > max)
            {
                // The first octets are kept so the reply can say which limit it was (AUTH's or a command's).
                prefix ??= buffer.Slice(0, Math.Min(buffer.Length, 8)).ToArray();
                discarding = true;
                _io.Input.AdvanceTo(buffer.End);
            }
            else
            {
                _io.Input.AdvanceTo(buffer.Start, buffer.End);
            }

            if (result.IsCompleted)
            {
                return (LineStatus.Closed, null);
            }
        }
    }

    private static bool IsAuth(byte[] line) =>
        line.Length >= 5 && Encoding.ASCII.GetString(line, 0, 5).Equals("AUTH ", StringComparison.OrdinalIgnoreCase);

    /// <summary>RFC 3848 (and RFC 6531 §3.7.4 for SMTPUTF8): "S" when TLS protected the session, "A" when the client authenticated.</summary>
    private string ReceivedProtocol(bool smtpUtf8)
    {
        var basis = smtpUtf8 ? "UTF8SMTP" : _protocol;
        return basis == "SMTP" ? basis : basis + (_io.IsTls ? "S" : string.Empty) + (_user is not null ? "A" : string.Empty);
    }

    private async Task<bool> StartTlsAsync(string argument)
    {
        if (_services.Certificate is null)
        {
            return await ProtocolErrorAsync(ListenerReplies.NotImplemented);
        }

        if (argument.Length > 0)
        {
            return await ProtocolErrorAsync(ListenerReplies.NoArgumentsAllowed("STARTTLS"));
        }

        if (_io.IsTls)
        {
            return await ProtocolErrorAsync(ListenerReplies.BadSequence("TLS is already active"));
        }

        if (_transaction is not null)
        {
            return await ProtocolErrorAsync(ListenerReplies.BadSequence("STARTTLS is not allowed during a mail transaction (RSET first)"));
        }

        await ReplyAsync(ListenerReplies.ReadyForTls, flush: true);
        if (!await StartTlsHandshakeAsync())
        {
            return false;
        }

        // RFC 3207 §4.2: the server discards what it knew from the client before TLS; the client starts with EHLO again.
        _helo = null;
        _user = null;
        _transaction = null;
        return true;
    }

    /// <summary>The TLS handshake, bounded by the command timeout; false (the session ends) when it fails.</summary>
    private async Task<bool> StartTlsHandshakeAsync()
    {
        System.Net.Security.SslStreamCertificateContext certificate;
        try
        {
            certificate = _services.Certificate!.Context;
        }
        catch (Exception error) when (error is InvalidOperationException or System.Security.Cryptography.CryptographicException)
        {
            await ReplyAsync(ListenerReplies.TlsNotAvailable, flush: true);
            return false;
        }

        _timer.CancelAfter(_options.CommandTimeout);
        try
        {
            await _io.StartTlsAsync(certificate, _timer.Token);
            return true;
        }
        catch (Exception error) when (error is System.Security.Authentication.AuthenticationException or IOException)
        {
            _services.Warn(Peer.Address, $"failed the TLS handshake: {error.Message}");
            return false;
        }
        finally
        {
            _timer.CancelAfter(Timeout.Infinite);
        }
    }

    private async Task<bool> AuthAsync(string argument)
    {
        var authenticator = _services.Authenticator;
        if (authenticator is null)
        {
            return await ProtocolErrorAsync(ListenerReplies.NotImplemented);
        }

        if (!AuthOffered)
        {
            return await ProtocolErrorAsync(ListenerReplies.TlsFirst);
        }

        if (_helo is null)
        {
            return await ProtocolErrorAsync(ListenerReplies.BadSequence("Send EHLO first"));
        }

        if (_user is not null)
        {
            // RFC 4954 §4: after a successful AUTH, further AUTH commands get 503.
            return await ProtocolErrorAsync(ListenerReplies.BadSequence("Already authenticated"));
        }

        if (_transaction is not null)
        {
            return await ProtocolErrorAsync(ListenerReplies.BadSequence("AUTH is not allowed during a mail transaction"));
        }

        if (authenticator.IsLockedOut(Peer.Address))
        {
            await ReplyAsync(ListenerReplies.TooManyAuthFailures, flush: true);
            return false;
        }

        var words = argument.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (words.Length is 0 or > 2)
        {
            return await ProtocolErrorAsync(new SmtpReply(501, "5.5.4", "Syntax: AUTH mechanism [initial-response]"));
        }

        var mechanism = words[0].ToUpperInvariant();
        var initial = words.Length == 2 ? words[1] : null;
        string name, password;
        switch (mechanism)
        {
            case "PLAIN":
            {
                var (ok, bytes, reply) = initial is not null ? Decode(initial) : await ChallengeAsync(string.Empty);
                if (!ok)
                {
                    return reply is null || await ProtocolErrorAsync(reply);
                }

                if (!SaslResponses.TryParsePlain(bytes!, out name, out password, out var problem))
                {
                    return await ProtocolErrorAsync(ListenerReplies.BadAuthResponse(problem!));
                }

                break;
            }

            case "LOGIN":
            {
                // The draft LOGIN mechanism: "Username:" and "Password:" as base64 challenges.
                var (ok, bytes, reply) = initial is not null ? Decode(initial) : await ChallengeAsync("VXNlcm5hbWU6");
                if (!ok)
                {
                    return reply is null || await ProtocolErrorAsync(reply);
                }

                if (!SaslResponses.TryText(bytes!, out name))
                {
                    return await ProtocolErrorAsync(ListenerReplies.BadAuthResponse("not UTF-8"));
                }

                (ok, bytes, reply) = await ChallengeAsync("UGFzc3dvcmQ6");
                if (!ok)
                {
                    return reply is null || await ProtocolErrorAsync(reply);
                }

                if (!SaslResponses.TryText(bytes!, out password))
                {
                    return await ProtocolErrorAsync(ListenerReplies.BadAuthResponse("not UTF-8"));
                }

                break;
            }

            default:
                return await ProtocolErrorAsync(ListenerReplies.UnknownMechanism);
        }

        var (result, user) = await authenticator.AuthenticateAsync(name, password, _shutdown);
        switch (result)
        {
            case AuthResult.Succeeded:
                _user = user;
                _services.Logger.LogInformation("SMTP client {Client} authenticated as {User}", Peer.Address, user!.Name);
                return await ReplyAsync(ListenerReplies.AuthenticationSucceeded);
            case AuthResult.Busy:
                _services.Warn(Peer.Address, "could not be authenticated in time (every password check was busy); answered 454 4.7.0");
                return await ReplyAsync(ListenerReplies.AuthenticationBusy);
            default:
                // The address and the login name, never the password.
                _services.Warn(Peer.Address, $"failed to authenticate as '{SmtpCommandParser.Printable(name)}'");
                if (authenticator.RecordFailure(Peer.Address))
                {
                    _services.Warn(Peer.Address, "failed to authenticate too often; answered 421 4.7.0 and locked it out for a minute");
                    await ReplyAsync(ListenerReplies.TooManyAuthFailures, flush: true);
                    return false;
                }

                await Task.Delay(_options.AuthFailureDelay, _shutdown);
                return await ReplyAsync(ListenerReplies.AuthenticationFailed);
        }
    }

    private static (bool Ok, byte[]? Bytes, SmtpReply? Reply) Decode(string response)
    {
        if (response == "*")
        {
            return (false, null, ListenerReplies.AuthenticationCancelled);
        }

        return SaslResponses.TryDecode(response, out var bytes) ? (true, bytes, null) : (false, null, ListenerReplies.BadAuthResponse("not base64"));
    }

    /// <summary>
    /// Sends a 334 challenge and reads the client's response line (RFC 4954 §4). Not OK with a reply to send, or with
    /// none when the client has gone.
    /// </summary>
    private async Task<(bool Ok, byte[]? Bytes, SmtpReply? Reply)> ChallengeAsync(string challenge)
    {
        Write(334, challenge, last: true);
        await FlushAsync();
        var (status, line) = await ReadLineAsync(MaxAuthLineLength, _options.CommandTimeout);
        switch (status)
        {
            case LineStatus.Closed:
                return (false, null, null);
            case LineStatus.TooLong:
                return (false, null, ListenerReplies.AuthLineTooLong);
        }

        if (line!.Length < 2 || line[^2] != (byte)'\r')
        {
            return (false, null, ListenerReplies.BareLineFeedInCommand);
        }

        return Decode(Encoding.ASCII.GetString(line, 0, line.Length - 2));
    }

    /// <summary>True when the client has already sent another whole command (pipelining): its reply may wait for it.</summary>
    private bool HasCompleteLineBuffered()
    {
        if (!_io.Input.TryRead(out var result))
        {
            return false;
        }

        var complete = result.Buffer.PositionOf((byte)'\n') is not null;
        _io.Input.AdvanceTo(result.Buffer.Start, complete ? result.Buffer.Start : result.Buffer.End);
        return complete;
    }

    private async Task<bool> ProtocolErrorAsync(SmtpReply reply)
    {
        _errors++;
        if (_errors > MaxErrors)
        {
            _services.Warn(Peer.Address, $"made more than {MaxErrors} protocol errors; answered 421 4.7.0 and closed");
            await ReplyAsync(ListenerReplies.TooManyErrors, flush: true);
            return false;
        }

        return await ReplyAsync(reply);
    }

    private async Task<bool> ReplyAsync(SmtpReply reply, bool flush = false)
    {
        WriteReply(reply);
        if (flush)
        {
            await FlushAsync();
        }

        return true;
    }

    private void WriteReply(SmtpReply reply) =>
        Write(reply.Code, reply.Enhanced is null ? reply.Text : $"{reply.Enhanced} {reply.Text}", last: true);

    private void Write(int code, string text, bool last)
    {
        var line = $"{code}{(last ? ' ' : '-')}{text}\r\n";
        var span = _io.Output.GetSpan(Encoding.ASCII.GetMaxByteCount(line.Length));
        _io.Output.Advance(Encoding.ASCII.GetBytes(line, span));
    }

    private async Task FlushAsync()
    {
        // A client that never reads its replies fills the socket: the flush waits, bounded by the command timeout.
        _timer.CancelAfter(_options.CommandTimeout);
        await _io.Output.FlushAsync(_timer.Token);
        _timer.CancelAfter(Timeout.Infinite);
    }

    private async Task TryReplyAsync(SmtpReply reply)
    {
        try
        {
            WriteReply(reply);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await _io.Output.FlushAsync(timeout.Token);
        }
        catch (Exception error) when (error is IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException or System.Net.Sockets.SocketException)
        {
            // The client is gone or not reading; the connection closes either way.
        }
    }

    private static bool HasNonAscii(string text) => text.Any(c => c > 127);
}

/// <summary>What every session of one listener shares.</summary>
internal sealed class SessionServices
{
    public required ListenerOptions Options { get; init; }

    public required string ServerName { get; init; }

    public required string PostmasterAddress { get; init; }

    public required NetworkList AllowedNetworks { get; init; }

    public required NetworkList ProxyFrom { get; init; }

    public required ISpool Spool { get; init; }

    public required BufferBudget Budget { get; init; }

    public required string SpillDirectory { get; init; }

    public required ConnectionLimiter Limiter { get; init; }

    public required ILogger Logger { get; init; }

    public required RateLimitedLog ClientWarnings { get; init; }

    public required Func<bool> IsStopping { get; init; }

    /// <summary>DKIM signing of accepted mail; null signs nothing.</summary>
    public AyTrack.Smtp.Dkim.MessageSigning? Signing { get; init; }

    /// <summary>The node's instruments (accepted messages, acceptance time); null counts nothing.</summary>
    public AyTrack.Core.Metrics.AyTrackMetrics? Metrics { get; init; }

    /// <summary>Checks AUTH credentials; null: AUTH is not offered.</summary>
    public SmtpAuthenticator? Authenticator { get; init; }

    /// <summary>The STARTTLS and implicit-TLS certificate; null: no TLS.</summary>
    public ListenerCertificate? Certificate { get; init; }

    public bool Stopping => IsStopping();

    /// <summary>One line per client per minute at most, never a stack trace: what a misbehaving client did.</summary>
    public void Warn(IPAddress client, string what)
    {
        if (ClientWarnings.ShouldLog(client.ToString(), DateTimeOffset.UtcNow, out var suppressed))
        {
            Logger.LogWarning("SMTP client {Client} {What}{Suppressed}", client, what,
                suppressed > 0 ? $" ({suppressed} more such events from it in the last minute not logged)" : string.Empty);
        }
    }
}
