using AyTrack.Core.Addresses;
using AyTrack.Core.Spool;
using Npgsql;
using NpgsqlTypes;

namespace AyTrack.Spool;

/// <summary>
/// The cluster spool: bodies, envelopes and the outbox in PostgreSQL, shared by every node, so whichever node
/// delivers a domain can read the bodies accepted by any other. Commits are durable (synchronous_commit on, the
/// server's default) before <see cref="AcceptAsync"/> returns; writes are group-committed as in the SQLite spool.
/// Each outbox row is claimed by the node that accepted it; a claim older than <see cref="OrphanLease"/> (its node
/// died before handing the mail to a domain actor) is taken over by whichever node reads the outbox next.
/// </summary>
public sealed class PostgresSpool : ISpool
{
    /// <summary>A live node renews its claims at every outbox read (every few seconds), far inside this lease.</summary>
    public static readonly TimeSpan OrphanLease = TimeSpan.FromSeconds(30);

    private const long SchemaLockKey = 0x4179547261636B; // "AyTrack": serializes schema creation by nodes starting together

    private readonly NpgsqlDataSource _dataSource;
    private readonly string _node;
    private readonly GroupCommitWriter<SpoolBatch> _writes;

    private PostgresSpool(NpgsqlDataSource dataSource, string node)
    {
        _dataSource = dataSource;
        _node = node;
        _writes = new GroupCommitWriter<SpoolBatch>(CommitAsync, () => OutboxChanged?.Invoke());
    }

    public event Action? OutboxChanged;

    /// <param name="node">This node's stable name (host:port), so its own unclaimed outbox rows stay its own across restarts.</param>
    public static async Task<PostgresSpool> OpenAsync(string connectionString, string node, CancellationToken cancellationToken = default)
    {
        var dataSource = PostgresDataSource.Create(connectionString);
        try
        {
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            await using (var command = new NpgsqlCommand("""
                SELECT pg_advisory_xact_lock(@key);
                CREATE TABLE IF NOT EXISTS aytrack_spool_messages(
                    id text PRIMARY KEY,
                    sender text NOT NULL,
                    received_at bigint NOT NULL,
                    smtputf8 boolean NOT NULL,
                    message_id text,
                    size integer NOT NULL,
                    body bytea NOT NULL);
                ALTER TABLE aytrack_spool_messages ADD COLUMN IF NOT EXISTS dsn text;
                ALTER TABLE aytrack_spool_messages ADD COLUMN IF NOT EXISTS auth_user text;
                CREATE TABLE IF NOT EXISTS aytrack_spool_recipients(
                    message_id text NOT NULL REFERENCES aytrack_spool_messages(id) ON DELETE CASCADE,
                    address text NOT NULL,
                    domain text NOT NULL,
                    dispatched boolean NOT NULL DEFAULT false,
                    final boolean NOT NULL DEFAULT false,
                    claimed_by text NOT NULL,
                    claimed_at timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY(message_id, address));
                CREATE INDEX IF NOT EXISTS aytrack_spool_outbox ON aytrack_spool_recipients(message_id) WHERE NOT dispatched AND NOT final;
                CREATE INDEX IF NOT EXISTS aytrack_spool_pending ON aytrack_spool_recipients(domain) WHERE NOT final;
                CREATE TABLE IF NOT EXISTS aytrack_spool_probe(node text PRIMARY KEY, at bigint NOT NULL);
                """, connection, transaction))
            {
                command.Parameters.AddWithValue("key", SchemaLockKey);
                await command.ExecuteNonQueryAsync(cancellationToken);
            }

            await transaction.CommitAsync(cancellationToken);
            return new PostgresSpool(dataSource, node);
        }
        catch
        {
            await dataSource.DisposeAsync();
            throw;
        }
    }

    public Task AcceptAsync(SpoolEnvelope envelope, MessageContent content, CancellationToken cancellationToken)
    {
        // Small bodies are sent as one array; a large one as a stream that Npgsql copies to the socket, so it is never
        // gathered into one array in memory.
        var small = content.AsArray(SpoolQueries.InlineBodyLimit);
        return _writes.WriteAsync(batch =>
        {
            var insert = batch.Add("""
                INSERT INTO aytrack_spool_messages(id, sender, received_at, smtputf8, message_id, size, body, dsn, auth_user)
                VALUES (@id, @sender, @received, @utf8, @mid, @size, @body, @dsn, @user)
                """);
            insert.Parameters.AddWithValue("dsn", NpgsqlDbType.Text, (object?)SpoolQueries.DsnToJson(envelope.Dsn) ?? DBNull.Value);
            insert.Parameters.AddWithValue("user", NpgsqlDbType.Text, (object?)envelope.AuthenticatedUser ?? DBNull.Value);
            insert.Parameters.AddWithValue("id", envelope.Id.Value);
            insert.Parameters.AddWithValue("sender", envelope.Sender);
            insert.Parameters.AddWithValue("received", envelope.ReceivedAt.ToUnixTimeMilliseconds());
            insert.Parameters.AddWithValue("utf8", envelope.SmtpUtf8);
            insert.Parameters.AddWithValue("mid", NpgsqlDbType.Text, (object?)envelope.MessageIdHeader ?? DBNull.Value);
            insert.Parameters.AddWithValue("size", content.Length);
            // A stream is read when the batch is sent (and opened again if the group is retried one write at a time).
            insert.Parameters.AddWithValue("body", NpgsqlDbType.Bytea, (object?)small ?? batch.Own(content.OpenRead()));

            // One statement for all recipients: unnest pairs the two arrays row by row.
            var rcpt = batch.Add("""
                INSERT INTO aytrack_spool_recipients(message_id, address, domain, claimed_by)
                SELECT @id, a, d, @node FROM unnest(@addresses, @domains) AS r(a, d)
                ON CONFLICT DO NOTHING
                """);
            rcpt.Parameters.AddWithValue("id", envelope.Id.Value);
            rcpt.Parameters.AddWithValue("node", _node);
            rcpt.Parameters.AddWithValue("addresses", envelope.Recipients.Select(r => r.Address).ToArray());
            rcpt.Parameters.AddWithValue("domains", envelope.Recipients.Select(r => r.Domain.Value).ToArray());
        }, outboxChanged: true, cancellationToken);
    }

    public async Task<IReadOnlyList<OutboxEntry>> ReadOutboxAsync(int maxRecipients, CancellationToken cancellationToken)
    {
        // Claiming and reading is one statement; SKIP LOCKED keeps two nodes taking over the same orphans from
        // waiting on each other. Taking over twice would only repeat an Enqueue, which domain actors ignore.
        await using var command = _dataSource.CreateCommand("""
            WITH picked AS (
                SELECT message_id, address FROM aytrack_spool_recipients
                WHERE NOT dispatched AND NOT final AND (claimed_by = @node OR claimed_at < now() - @lease)
                ORDER BY message_id
                LIMIT @max
                FOR UPDATE SKIP LOCKED)
            UPDATE aytrack_spool_recipients r SET claimed_by = @node, claimed_at = now()
            FROM picked JOIN aytrack_spool_messages m ON m.id = picked.message_id
            WHERE r.message_id = picked.message_id AND r.address = picked.address
            RETURNING r.message_id, r.domain, r.address, m.received_at
            """);
        command.Parameters.AddWithValue("node", _node);
        command.Parameters.AddWithValue("lease", OrphanLease);
        command.Parameters.AddWithValue("max", maxRecipients);
        var grouped = new Dictionary<(string Id, string Domain), (long Received, List<string> Recipients)>();
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                var key = (reader.GetString(0), reader.GetString(1));
                if (!grouped.TryGetValue(key, out var entry))
                {
                    entry = (reader.GetInt64(3), []);
                    grouped[key] = entry;
                }

                entry.Recipients.Add(reader.GetString(2));
            }
        }

        return grouped
            .OrderBy(kv => kv.Key.Id, StringComparer.Ordinal).ThenBy(kv => kv.Key.Domain, StringComparer.Ordinal)
            .Select(kv => new OutboxEntry(new QueueId(kv.Key.Id), new RecipientDomain(kv.Key.Domain), kv.Value.Recipients,
                DateTimeOffset.FromUnixTimeMilliseconds(kv.Value.Received)))
            .ToList();
    }

    public Task MarkDispatchedAsync(IReadOnlyCollection<OutboxEntry> entries, CancellationToken cancellationToken) =>
        _writes.WriteAsync(batch =>
        {
            var command = batch.Add("""
                UPDATE aytrack_spool_recipients r SET dispatched = true
                FROM unnest(@ids, @addresses) AS d(id, address)
                WHERE r.message_id = d.id AND r.address = d.address
                """);
            var pairs = entries.SelectMany(e => e.Recipients.Select(r => (Id: e.Id.Value, Address: r))).ToList();
            command.Parameters.AddWithValue("ids", pairs.Select(p => p.Id).ToArray());
            command.Parameters.AddWithValue("addresses", pairs.Select(p => p.Address).ToArray());
        }, outboxChanged: false, cancellationToken);

    public async Task<SpooledMessage?> LoadAsync(QueueId id, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var command = new NpgsqlCommand("""
            SELECT sender, received_at, smtputf8, message_id, body, dsn, auth_user FROM aytrack_spool_messages WHERE id = @id;
            SELECT address FROM aytrack_spool_recipients WHERE message_id = @id ORDER BY address;
            """, connection);
        command.Parameters.AddWithValue("id", id.Value);
        return await SpoolQueries.ReadMessageAsync(command, id, cancellationToken);
    }

    public async Task<IReadOnlyDictionary<string, string>> LoadSendersAsync(IReadOnlyCollection<QueueId> ids, CancellationToken cancellationToken)
    {
        var senders = new Dictionary<string, string>(StringComparer.Ordinal);
        if (ids.Count == 0)
        {
            return senders;
        }

        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var command = new NpgsqlCommand("SELECT id, sender FROM aytrack_spool_messages WHERE id = ANY(@ids)", connection);
        command.Parameters.AddWithValue("ids", ids.Select(i => i.Value).ToArray());
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            senders[reader.GetString(0)] = reader.GetString(1);
        }

        return senders;
    }

    public Task MarkFinalAsync(QueueId id, IReadOnlyCollection<string> recipients, CancellationToken cancellationToken) =>
        _writes.WriteAsync(batch =>
        {
            // The message row is locked first: two nodes finishing the last recipients of one message (at two
            // domains) would otherwise each see the other's recipient as not final and neither would remove it.
            batch.Add("SELECT 1 FROM aytrack_spool_messages WHERE id = @id FOR UPDATE").Parameters.AddWithValue("id", id.Value);
            var mark = batch.Add("UPDATE aytrack_spool_recipients SET final = true WHERE message_id = @id AND address = ANY(@addresses)");
            mark.Parameters.AddWithValue("id", id.Value);
            mark.Parameters.AddWithValue("addresses", recipients.ToArray());
            batch.Add("""
                DELETE FROM aytrack_spool_messages WHERE id = @id
                    AND NOT EXISTS (SELECT 1 FROM aytrack_spool_recipients WHERE message_id = @id AND NOT final)
                """).Parameters.AddWithValue("id", id.Value);
        }, outboxChanged: false, cancellationToken);

    public async Task<SpoolCounts> CountAsync(CancellationToken cancellationToken)
    {
        await using var command = _dataSource.CreateCommand("""
            SELECT (SELECT COUNT(*) FROM aytrack_spool_messages),
                   (SELECT COUNT(*) FROM aytrack_spool_recipients WHERE NOT final),
                   (SELECT COUNT(*) FROM aytrack_spool_recipients WHERE NOT dispatched AND NOT final)
            """);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return new SpoolCounts(reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2));
    }

    public async Task<int> TakeOverClaimsAsync(string node, CancellationToken cancellationToken)
    {
        await using var command = _dataSource.CreateCommand("""
            UPDATE aytrack_spool_recipients SET claimed_by = @me, claimed_at = now()
            WHERE claimed_by = @dead AND NOT dispatched AND NOT final
            """);
        command.Parameters.AddWithValue("me", _node);
        command.Parameters.AddWithValue("dead", node);
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<IReadOnlyList<RecipientDomain>> PendingDomainsAsync(CancellationToken cancellationToken)
    {
        await using var command = _dataSource.CreateCommand(
            "SELECT DISTINCT domain FROM aytrack_spool_recipients WHERE dispatched AND NOT final");
        return await SpoolQueries.ReadDomainsAsync(command, cancellationToken);
    }

    public async Task<int> RequeueDispatchedAsync(CancellationToken cancellationToken)
    {
        NpgsqlBatchCommand? command = null;
        await _writes.WriteAsync(batch =>
        {
            command = batch.Add("UPDATE aytrack_spool_recipients SET dispatched = false, claimed_by = @me, claimed_at = now() WHERE dispatched AND NOT final");
            command.Parameters.AddWithValue("me", _node);
        }, true, cancellationToken);
        return command!.RecordsAffected;
    }

    public async Task<string?> CheckIntegrityAsync(CancellationToken cancellationToken)
    {
        // PostgreSQL checks its own pages (data checksums, WAL); a full read of both tables surfaces what it finds.
        try
        {
            await using var command = _dataSource.CreateCommand(
                "SELECT (SELECT count(*) FROM aytrack_spool_messages WHERE length(body) >= 0), (SELECT count(*) FROM aytrack_spool_recipients)");
            await command.ExecuteScalarAsync(cancellationToken);
            return null;
        }
        catch (PostgresException e) when (e.SqlState.StartsWith("XX", StringComparison.Ordinal))
        {
            return $"PostgreSQL spool tables: {e.MessageText}";
        }
    }

    public async Task ProbeAsync(CancellationToken cancellationToken)
    {
        var at = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await _writes.WriteAsync(batch =>
        {
            var command = batch.Add("INSERT INTO aytrack_spool_probe(node, at) VALUES (@node, @at) ON CONFLICT (node) DO UPDATE SET at = @at");
            command.Parameters.AddWithValue("node", _node);
            command.Parameters.AddWithValue("at", at);
        }, false, cancellationToken);

        await using var read = _dataSource.CreateCommand("SELECT at FROM aytrack_spool_probe WHERE node = @node");
        read.Parameters.AddWithValue("node", _node);
        if (await read.ExecuteScalarAsync(cancellationToken) is not long written || written != at)
        {
            throw new IOException("PostgreSQL spool: the probe row written was not read back");
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _writes.DisposeAsync();
        await _dataSource.DisposeAsync();
    }

    private async Task CommitAsync(IReadOnlyList<Func<SpoolBatch, Task>> writes)
    {
        // A pooled connection per group: one broken by a database restart is simply not reused. The group's statements
        // go in one round trip, which PostgreSQL runs as one implicit transaction: all of them or none, durable (with
        // synchronous_commit on, the server's default) when it answers.
        await using var connection = await _dataSource.OpenConnectionAsync();
        await using var batch = new NpgsqlBatch(connection);
        var group = new SpoolBatch(batch);
        try
        {
            foreach (var write in writes)
            {
                await write(group);
            }

            await batch.ExecuteNonQueryAsync();
        }
        finally
        {
            await group.DisposeAsync();
        }
    }

    /// <summary>The statements of one group commit, and the body streams they read.</summary>
    private sealed class SpoolBatch(NpgsqlBatch batch) : IAsyncDisposable
    {
        private readonly List<Stream> _streams = [];

        public NpgsqlBatchCommand Add(string sql)
        {
            var command = new NpgsqlBatchCommand(sql);
            batch.BatchCommands.Add(command);
            return command;
        }

        public Stream Own(Stream stream)
        {
            _streams.Add(stream);
            return stream;
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var stream in _streams)
            {
                await stream.DisposeAsync();
            }
        }
    }
}
