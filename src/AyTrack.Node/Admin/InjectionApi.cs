using AyTrack.Core.Addresses;
using AyTrack.Core.Configuration;
using AyTrack.Core.Dsn;
using AyTrack.Core.Messages;
using AyTrack.Contracts;
using AyTrack.Core.Spool;
using Microsoft.AspNetCore.Http.HttpResults;

namespace AyTrack.Node.Admin;

/// <summary>
/// POST /api/messages: applications hand over a raw message (message/rfc822) with its envelope in the query
/// (from=, empty for the null sender; to= repeated). 202 only after the same durable spool step as SMTP's 250.
/// </summary>
public static class InjectionApi
{
    public static void MapInjectionApi(this IEndpointRouteBuilder app)
    {
        app.MapPost("/api/messages", InjectAsync);
    }

    private static async Task<Results<Accepted<InjectedMessage>, ValidationProblem, ProblemHttpResult>> InjectAsync(
        HttpRequest request, ISpool spool, AyTrackOptions options, TimeProvider clock, AyTrack.Smtp.Dkim.MessageSigning signing, ILoggerFactory loggerFactory,
        AyTrack.Core.Metrics.AyTrackMetrics metrics, CancellationToken cancellationToken)
    {
        var errors = new Dictionary<string, string[]>();
        if (!string.Equals(request.ContentType?.Split(';')[0].Trim(), "message/rfc822", StringComparison.OrdinalIgnoreCase))
        {
            errors["Content-Type"] = ["must be message/rfc822"];
        }

        var from = request.Query["from"].ToString();
        var sender = string.Empty;
        if (from.Length > 0)
        {
            if (EmailAddress.TryParse(from, out var parsed, out var error))
            {
                sender = parsed.Address;
            }
            else
            {
                errors["from"] = [error];
            }
        }

        // RFC 3461 as over SMTP: ret= and envid= for the message, NOTIFY= and ORCPT= after a recipient's address
        // (to=bob@example.com NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob+40example.com).
        // Nullable type arguments, so that an absent parameter reads as null (not as the enum's first value).
        var ret = Optional(request, "ret", errors, (string text, out DsnReturn? value) =>
        {
            var problem = DsnParameters.ParseReturn(text, out var parsed);
            value = parsed;
            return problem;
        });
        var envelopeId = Optional(request, "envid", errors, (string text, out string? value) => DsnParameters.ParseEnvelopeId(text, out value!));

        var recipients = new List<EmailAddress>();
        var dsnRecipients = new Dictionary<string, DsnRecipient>(StringComparer.Ordinal);
        var toErrors = new List<string>();
        foreach (var to in request.Query["to"])
        {
            var parts = (to ?? string.Empty).Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (!EmailAddress.TryParse(parts.FirstOrDefault(), out var parsed, out var error))
            {
                toErrors.Add(error);
                continue;
            }

            recipients.Add(parsed);
            if (RecipientDsn(parts.Skip(1), out var recipientProblem) is { } dsn)
            {
                dsnRecipients[parsed.Address] = dsn;
            }
            else if (recipientProblem is not null)
            {
                toErrors.Add($"{parsed.Address}: {recipientProblem}");
            }
        }

        if (recipients.Count == 0 && toErrors.Count == 0)
        {
            toErrors.Add("at least one recipient is required");
        }

        if (recipients.Count > options.Listener.MaxRecipients)
        {
            toErrors.Add($"at most {options.Listener.MaxRecipients} recipients per message");
        }

        if (toErrors.Count > 0)
        {
            errors["to"] = toErrors.ToArray();
        }

        using var buffer = new MemoryStream();
        await request.Body.CopyToAsync(buffer, cancellationToken);
        if (buffer.Length == 0)
        {
            errors["body"] = ["the message is empty"];
        }
        else if (buffer.Length > options.Listener.MaxMessageSize)
        {
            errors["body"] = [$"the message is larger than {options.Listener.MaxMessageSize} bytes"];
        }

        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }

        var started = clock.GetTimestamp();
        var id = QueueId.New();
        var serverName = options.Listener.EffectiveServerName;
        var content = MessageData.NormalizeLineEndings(buffer.GetBuffer().AsSpan(0, (int)buffer.Length));
        var messageId = MessageData.FindHeader(content, "Message-ID");
        var prefix = string.Empty;
        if (messageId is null)
        {
            // RFC 5322 §3.6.4: every message SHOULD have one; applications that leave it out get one here.
            messageId = MessageData.NewMessageId(id.Value, serverName);
            prefix = $"Message-ID: {messageId}\r\n";
        }

        var now = clock.GetUtcNow();
        var peer = request.HttpContext.Connection.RemoteIpAddress?.ToString() ?? "unknown";
        prefix = MessageData.ReceivedHeader("api", peer, serverName, "HTTP", id.Value,
            recipients.Count == 1 ? recipients[0].Address : null, now) + prefix;
        var body = System.Text.Encoding.UTF8.GetBytes(prefix).Concat(content).ToArray();
        // Signed before the 202 as the listener signs before its 250.
        var signature = signing.SignatureFor(MessageContent.FromMemory(body));
        if (!signature.IsEmpty)
        {
            body = [.. signature.Span, .. body];
        }

        var utf8 = recipients.Any(r => r.IsInternational) || sender.Any(c => c > 127);
        try
        {
            await spool.AcceptAsync(new SpoolEnvelope(id, sender, recipients, now, utf8, messageId)
            {
                Dsn = ret is null && envelopeId is null && dsnRecipients.Count == 0 ? null : new DsnOptions(ret, envelopeId, dsnRecipients),
            }, body, cancellationToken);
        }
        catch (Exception error)
        {
            loggerFactory.CreateLogger(typeof(InjectionApi)).LogError(error, "Spool write failed for an injected message");
            return TypedResults.Problem("The message was not queued (temporary storage failure); retry later.",
                statusCode: StatusCodes.Status503ServiceUnavailable);
        }

        metrics.Accepted("http", clock.GetElapsedTime(started));
        return TypedResults.Accepted($"/api/messages/{id.Value}", new InjectedMessage(id.Value, messageId));
    }

    /// <summary>A recipient's NOTIFY and ORCPT from the words after its address; null with no problem when it has none.</summary>
    private static DsnRecipient? RecipientDsn(IEnumerable<string> words, out string? problem)
    {
        problem = null;
        DsnNotify? notify = null;
        string? type = null, original = null;
        foreach (var word in words)
        {
            var equals = word.IndexOf('=');
            var keyword = equals < 0 ? word.ToUpperInvariant() : word[..equals].ToUpperInvariant();
            var value = equals < 0 ? null : word[(equals + 1)..];
            switch (keyword)
            {
                case "NOTIFY" when notify is null:
                    problem = DsnParameters.ParseNotify(value, out var parsedNotify);
                    notify = parsedNotify;
                    break;
                case "ORCPT" when original is null:
                    problem = DsnParameters.ParseOriginalRecipient(value, out var parsedType, out var parsedOriginal);
                    (type, original) = (parsedType, parsedOriginal);
                    break;
                default:
                    problem = $"'{AyTrack.Core.Smtp.SmtpCommandParser.Printable(word)}' is not NOTIFY=… or ORCPT=… (each at most once)";
                    break;
            }

            if (problem is not null)
            {
                return null;
            }
        }

        return notify is null && original is null ? null : new DsnRecipient(notify, type, original);
    }

    private delegate string? Parser<T>(string text, out T value);

    /// <summary>A query parameter parsed when present; its problem is filed under its name.</summary>
    private static T? Optional<T>(HttpRequest request, string name, Dictionary<string, string[]> errors, Parser<T> parse)
    {
        if (request.Query[name].ToString() is not { Length: > 0 } text)
        {
            return default;
        }

        if (parse(text, out var value) is { } problem)
        {
            errors[name] = [problem];
            return default;
        }

        return value;
    }
}
