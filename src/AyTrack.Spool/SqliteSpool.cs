using AyTrack.Core.Addresses;
using AyTrack.Core.Spool;
using Microsoft.Data.Sqlite;

namespace AyTrack.Spool;

/// <summary>
/// The embedded spool: one SQLite file in WAL mode with synchronous=FULL, so a committed transaction survives a
/// crash or power loss. All writes go through one <see cref="GroupCommitWriter{TWrite}"/> on one connection: one
/// fsync for many messages, without acknowledging any of them before it.
/// </summary>
public sealed class SqliteSpool : ISpool
{
    private readonly string _connectionString;
    private readonly SqliteConnection _writer;
    private readonly Dictionary<string, SqliteCommand> _prepared = new(StringComparer.Ordinal);
    private readonly System.Collections.Concurrent.ConcurrentBag<SqliteCommand> _loaders = [];
    private readonly GroupCommitWriter<Tx> _writes;

    private SqliteSpool(string connectionString, SqliteConnection writer)
    {
        _connectionString = connectionString;
        _writer = writer;
        _writes = new GroupCommitWriter<Tx>(CommitAsync, () => OutboxChanged?.Invoke());
    }

    public event Action? OutboxChanged;

    public string Path { get; private init; } = string.Empty;

    public static async Task<SqliteSpool> OpenAsync(string path, CancellationToken cancellationToken = default)
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
        var connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();

        var writer = new SqliteConnection(connectionString);
        await writer.OpenAsync(cancellationToken);
        await ExecuteAsync(writer, null, """
            PRAGMA journal_mode=WAL;
            PRAGMA synchronous=FULL;
            PRAGMA busy_timeout=30000;
            CREATE TABLE IF NOT EXISTS messages(
                id TEXT PRIMARY KEY,
                sender TEXT NOT NULL,
                received_at INTEGER NOT NULL,
                smtputf8 INTEGER NOT NULL,
                message_id TEXT,
                size INTEGER NOT NULL,
                body BLOB NOT NULL);
            CREATE TABLE IF NOT EXISTS recipients(
                message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
                address TEXT NOT NULL,
                domain TEXT NOT NULL,
                dispatched INTEGER NOT NULL DEFAULT 0,
                final INTEGER NOT NULL DEFAULT 0,
                PRIMARY KEY(message_id, address)) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS recipients_outbox ON recipients(dispatched) WHERE dispatched = 0;
            CREATE INDEX IF NOT EXISTS recipients_pending ON recipients(domain) WHERE final = 0;
            CREATE TABLE IF NOT EXISTS probe(id INTEGER PRIMARY KEY, at INTEGER NOT NULL);
            """, cancellationToken);

        // Columns added after the first version (dsn with the DSN extension, RFC 3461; auth_user with SMTP AUTH): a
        // spool made by an older version gets them, empty.
        foreach (var column in new[] { "dsn", "auth_user" })
        {
            await using var columns = writer.CreateCommand();
            columns.CommandText = $"SELECT COUNT(*) FROM pragma_table_info('messages') WHERE name = '{column}'";
            if ((long)(await columns.ExecuteScalarAsync(cancellationToken))! == 0)
            {
                await ExecuteAsync(writer, null, $"ALTER TABLE messages ADD COLUMN {column} TEXT", cancellationToken);
            }
        }

        return new SqliteSpool(connectionString, writer) { Path = path };
    }

    public Task AcceptAsync(SpoolEnvelope envelope, MessageContent content, CancellationToken cancellationToken)
    {
        // Small bodies (nearly all mail) are bound as one parameter; a large one is streamed into a zeroblob through
        // SQLite's incremental blob I/O, so it is never gathered into one array in memory.
        var small = content.AsArray(SpoolQueries.InlineBodyLimit);
        return WriteAsync(async tx =>
        {
            var insert = tx.Command("""
                INSERT INTO messages(id, sender, received_at, smtputf8, message_id, size, body, dsn, auth_user)
                VALUES ($id, $sender, $received, $utf8, $mid, $size, CASE WHEN $body IS NULL THEN zeroblob($size) ELSE $body END, $dsn, $user)
                """);
            insert.Parameters.AddWithValue("$dsn", (object?)SpoolQueries.DsnToJson(envelope.Dsn) ?? DBNull.Value);
            insert.Parameters.AddWithValue("$user", (object?)envelope.AuthenticatedUser ?? DBNull.Value);
            insert.Parameters.AddWithValue("$id", envelope.Id.Value);
            insert.Parameters.AddWithValue("$sender", envelope.Sender);
            insert.Parameters.AddWithValue("$received", envelope.ReceivedAt.ToUnixTimeMilliseconds());
            insert.Parameters.AddWithValue("$utf8", envelope.SmtpUtf8 ? 1 : 0);
            insert.Parameters.AddWithValue("$mid", (object?)envelope.MessageIdHeader ?? DBNull.Value);
            insert.Parameters.AddWithValue("$size", content.Length);
            insert.Parameters.AddWithValue("$body", (object?)small ?? DBNull.Value);
            await insert.ExecuteNonQueryAsync(CancellationToken.None);
            if (small is null)
            {
                var rowid = tx.Command("SELECT last_insert_rowid()");
                var row = (long)(await rowid.ExecuteScalarAsync(CancellationToken.None))!;
                await using var blob = new SqliteBlob(tx.Connection, "messages", "body", row);
                await using var source = content.OpenRead();
                await source.CopyToAsync(blob, 81920, CancellationToken.None);
            }

            var rcpt = tx.Command("INSERT OR IGNORE INTO recipients(message_id, address, domain) VALUES ($id, $address, $domain)");
            var id = rcpt.Parameters.Add("$id", SqliteType.Text);
            var address = rcpt.Parameters.Add("$address", SqliteType.Text);
            var domain = rcpt.Parameters.Add("$domain", SqliteType.Text);
            foreach (var recipient in envelope.Recipients)
            {
                id.Value = envelope.Id.Value;
                address.Value = recipient.Address;
                domain.Value = recipient.Domain.Value;
                await rcpt.ExecuteNonQueryAsync(CancellationToken.None);
            }
        }, outboxChanged: true, cancellationToken);
    }

    public async Task<IReadOnlyList<OutboxEntry>> ReadOutboxAsync(int maxRecipients, CancellationToken cancellationToken)
    {
        await using var connection = await OpenReaderAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT r.message_id, r.domain, r.address, m.received_at
            FROM recipients r JOIN messages m ON m.id = r.message_id
            WHERE r.dispatched = 0 AND r.final = 0
            ORDER BY r.message_id, r.domain
            LIMIT $max
            """;
        command.Parameters.AddWithValue("$max", maxRecipients);
        var entries = new List<OutboxEntry>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        string? currentId = null;
        string? currentDomain = null;
        var recipients = new List<string>();
        long received = 0;
        while (await reader.ReadAsync(cancellationToken))
        {
            var id = reader.GetString(0);
            var domain = reader.GetString(1);
            if (id != currentId || domain != currentDomain)
            {
                Flush();
                currentId = id;
                currentDomain = domain;
                received = reader.GetInt64(3);
            }

            recipients.Add(reader.GetString(2));
        }

        Flush();
        return entries;

        void Flush()
        {
            if (currentId is not null && recipients.Count > 0)
            {
                entries.Add(new OutboxEntry(new QueueId(currentId), new RecipientDomain(currentDomain!), recipients.ToList(),
                    DateTimeOffset.FromUnixTimeMilliseconds(received)));
            }

            recipients.Clear();
        }
    }

    public Task MarkDispatchedAsync(IReadOnlyCollection<OutboxEntry> entries, CancellationToken cancellationToken) =>
        WriteAsync(async tx =>
        {
            var command = tx.Command("UPDATE recipients SET dispatched = 1 WHERE message_id = $id AND address = $address");
            var id = command.Parameters.Add("$id", SqliteType.Text);
            var address = command.Parameters.Add("$address", SqliteType.Text);
            foreach (var entry in entries)
            {
                foreach (var recipient in entry.Recipients)
                {
                    id.Value = entry.Id.Value;
                    address.Value = recipient;
                    await command.ExecuteNonQueryAsync(CancellationToken.None);
                }
            }
        }, outboxChanged: false, cancellationToken);

    public async Task<SpooledMessage?> LoadAsync(QueueId id, CancellationToken cancellationToken)
    {
        // Every delivery loads its message: the readers keep their connection and prepared statement (WAL lets them
        // read beside the writer).
        if (!_loaders.TryTake(out var loader))
        {
            var connection = await OpenReaderAsync(cancellationToken);
            var prepared = connection.CreateCommand();
            prepared.CommandText = """
                SELECT sender, received_at, smtputf8, message_id, body, dsn, auth_user FROM messages WHERE id = $id;
                SELECT address FROM recipients WHERE message_id = $id ORDER BY address;
                """;
            prepared.Parameters.Add("$id", SqliteType.Text);
            loader = prepared;
        }

        try
        {
            loader.Parameters["$id"].Value = id.Value;
            return await SpoolQueries.ReadMessageAsync(loader, id, cancellationToken);
        }
        finally
        {
            _loaders.Add(loader);
        }
    }

    public async Task<IReadOnlyDictionary<string, string>> LoadSendersAsync(IReadOnlyCollection<QueueId> ids, CancellationToken cancellationToken)
    {
        var senders = new Dictionary<string, string>(StringComparer.Ordinal);
        if (ids.Count == 0)
        {
            return senders;
        }

        await using var connection = await OpenReaderAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        var names = ids.Select((id, i) =>
        {
            command.Parameters.AddWithValue($"$id{i}", id.Value);
            return $"$id{i}";
        }).ToList();
        command.CommandText = $"SELECT id, sender FROM messages WHERE id IN ({string.Join(", ", names)})";
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            senders[reader.GetString(0)] = reader.GetString(1);
        }

        return senders;
    }

    public Task MarkFinalAsync(QueueId id, IReadOnlyCollection<string> recipients, CancellationToken cancellationToken) =>
        WriteAsync(async tx =>
        {
            var command = tx.Command("UPDATE recipients SET final = 1 WHERE message_id = $id AND address = $address");
            var idParameter = command.Parameters.AddWithValue("$id", id.Value);
            var address = command.Parameters.Add("$address", SqliteType.Text);
            foreach (var recipient in recipients)
            {
                address.Value = recipient;
                await command.ExecuteNonQueryAsync(CancellationToken.None);
            }

            var cleanup = tx.Command("""
                DELETE FROM recipients WHERE message_id = $id
                    AND NOT EXISTS (SELECT 1 FROM recipients WHERE message_id = $id AND final = 0);
                DELETE FROM messages WHERE id = $id
                    AND NOT EXISTS (SELECT 1 FROM recipients WHERE message_id = $id);
                """);
            cleanup.Parameters.AddWithValue("$id", id.Value);
            await cleanup.ExecuteNonQueryAsync(CancellationToken.None);
        }, outboxChanged: false, cancellationToken);

    public async Task<SpoolCounts> CountAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenReaderAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT (SELECT COUNT(*) FROM messages),
                   (SELECT COUNT(*) FROM recipients WHERE final = 0),
                   (SELECT COUNT(*) FROM recipients WHERE dispatched = 0 AND final = 0)
            """;
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return new SpoolCounts(reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2));
    }

    /// <summary>The SQLite spool belongs to one node: there is nobody else's claim to take over.</summary>
    public Task<int> TakeOverClaimsAsync(string node, CancellationToken cancellationToken) => Task.FromResult(0);

    public async Task<IReadOnlyList<RecipientDomain>> PendingDomainsAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenReaderAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT DISTINCT domain FROM recipients WHERE dispatched = 1 AND final = 0";
        return await SpoolQueries.ReadDomainsAsync(command, cancellationToken);
    }

    public async Task<int> RequeueDispatchedAsync(CancellationToken cancellationToken)
    {
        var count = 0;
        await WriteAsync(async tx =>
        {
            var command = tx.Command("UPDATE recipients SET dispatched = 0 WHERE dispatched = 1 AND final = 0");
            count = await command.ExecuteNonQueryAsync(CancellationToken.None);
        }, outboxChanged: true, cancellationToken);
        return count;
    }

    public async Task<string?> CheckIntegrityAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenReaderAsync(cancellationToken);
        return await SqliteIntegrity.QuickCheckAsync(connection, cancellationToken);
    }

    public async Task ProbeAsync(CancellationToken cancellationToken)
    {
        var at = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await WriteAsync(async tx =>
        {
            await using var command = tx.Connection.CreateCommand();
            command.Transaction = tx.Transaction;
            command.CommandText = "INSERT OR REPLACE INTO probe(id, at) VALUES (1, $at)";
            command.Parameters.AddWithValue("$at", at);
            await command.ExecuteNonQueryAsync();
        }, outboxChanged: false, cancellationToken);

        await using var connection = await OpenReaderAsync(cancellationToken);
        await using var read = connection.CreateCommand();
        read.CommandText = "SELECT at FROM probe WHERE id = 1";
        if (await read.ExecuteScalarAsync(cancellationToken) is not long written || written != at)
        {
            throw new IOException($"{Path}: the probe row written was not read back");
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _writes.DisposeAsync();
        try
        {
            // A clean stop folds the WAL into spool.db: the file alone then holds everything accepted.
            await ExecuteAsync(_writer, null, "PRAGMA wal_checkpoint(TRUNCATE);", CancellationToken.None);
        }
        catch (SqliteException)
        {
            // Readers still open keep part of the WAL; SQLite checkpoints it at the next start.
        }

        foreach (var command in _prepared.Values)
        {
            await command.DisposeAsync();
        }

        while (_loaders.TryTake(out var loader))
        {
            var connection = loader.Connection;
            await loader.DisposeAsync();
            await (connection?.DisposeAsync() ?? ValueTask.CompletedTask);
        }

        await _writer.DisposeAsync();
    }

    private Task WriteAsync(Func<Tx, Task> write, bool outboxChanged, CancellationToken cancellationToken) =>
        _writes.WriteAsync(write, outboxChanged, cancellationToken);

    private async Task CommitAsync(IReadOnlyList<Func<Tx, Task>> writes)
    {
        await using var transaction = (SqliteTransaction)await _writer.BeginTransactionAsync();
        foreach (var write in writes)
        {
            await write(new Tx(_writer, transaction, _prepared));
        }

        await transaction.CommitAsync();
    }

    private async Task<SqliteConnection> OpenReaderAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(cancellationToken);
        return connection;
    }

    private static async Task ExecuteAsync(SqliteConnection connection, SqliteTransaction? transaction, string sql, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// One write's view of the writer: its connection and transaction, and commands kept prepared across writes
    /// (SQLite parses a statement again for every new command; the writer loop runs the same few all day).
    /// </summary>
    private readonly record struct Tx(SqliteConnection Connection, SqliteTransaction Transaction, Dictionary<string, SqliteCommand> Prepared)
    {
        public SqliteCommand Command(string sql)
        {
            if (!Prepared.TryGetValue(sql, out var command))
            {
                command = Connection.CreateCommand();
                command.CommandText = sql;
                Prepared[sql] = command;
            }

            command.Transaction = Transaction;
            command.Parameters.Clear();
            return command;
        }
    }
}
