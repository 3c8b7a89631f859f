using System.Data.Common;
using AyTrack.Core.Addresses;
using AyTrack.Core.Spool;

namespace AyTrack.Spool;

/// <summary>Reading what both spools answer the same way, whatever their SQL dialect.</summary>
internal static class SpoolQueries
{
    /// <summary>Bodies up to this size are written as one array; larger ones are streamed into the store.</summary>
    public const long InlineBodyLimit = 1024 * 1024;

    /// <summary>The domains a one-column query returns.</summary>
    public static async Task<IReadOnlyList<RecipientDomain>> ReadDomainsAsync(DbCommand command, CancellationToken cancellationToken)
    {
        var domains = new List<RecipientDomain>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            domains.Add(new RecipientDomain(reader.GetString(0)));
        }

        return domains;
    }

    /// <summary>
    /// A message from a command whose first result is (sender, received_at in Unix ms, smtputf8, message_id, body, dsn,
    /// auth_user) and
    /// whose second is its recipients' addresses; null when there is no such message.
    /// </summary>
    public static async Task<SpooledMessage?> ReadMessageAsync(DbCommand command, QueueId id, CancellationToken cancellationToken)
    {
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }

        var sender = reader.GetString(0);
        var received = DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(1));
        var utf8 = reader.GetBoolean(2);
        var messageId = reader.IsDBNull(3) ? null : reader.GetString(3);
        var body = reader.GetFieldValue<byte[]>(4);
        var dsn = reader.IsDBNull(5) ? null : DsnFromJson(reader.GetString(5));
        var user = reader.IsDBNull(6) ? null : reader.GetString(6);
        await reader.NextResultAsync(cancellationToken);
        var recipients = new List<EmailAddress>();
        while (await reader.ReadAsync(cancellationToken))
        {
            recipients.Add(EmailAddress.Parse(reader.GetString(0)));
        }

        return new SpooledMessage(new SpoolEnvelope(id, sender, recipients, received, utf8, messageId) { Dsn = dsn, AuthenticatedUser = user }, body);
    }

    private static readonly System.Text.Json.JsonSerializerOptions DsnJson = new(System.Text.Json.JsonSerializerDefaults.Web)
    {
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() },
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>The DSN request as stored in the messages table's dsn column (JSON); null when the client made none.</summary>
    public static string? DsnToJson(AyTrack.Core.Dsn.DsnOptions? dsn) =>
        dsn is null || dsn.IsEmpty ? null : System.Text.Json.JsonSerializer.Serialize(dsn, DsnJson);

    public static AyTrack.Core.Dsn.DsnOptions? DsnFromJson(string json) =>
        System.Text.Json.JsonSerializer.Deserialize<AyTrack.Core.Dsn.DsnOptions>(json, DsnJson);
}
