using Akka.Persistence;
using AyTrack.Spool;
using Npgsql;
using NpgsqlTypes;

namespace AyTrack.Node.Storage;

/// <summary>
/// The cluster's journal (PostgreSQL): Akka.Persistence.Sql's tables (<see cref="JournalStore"/>), every write waiting
/// sent as one batch in one round trip (PostgreSQL runs a batch as one implicit transaction: all of it or none, durable
/// when the server answers), a group's events as one multi-row INSERT over arrays, and the few statements prepared by
/// Npgsql after their first uses. Each node writes only the actors sharding gives it; a write that collides with
/// another's sequence number fails alone (the group is then retried one write at a time).
/// </summary>
internal sealed class PostgresJournalStore : JournalStore
{
    /// <summary>Serialises schema creation by nodes starting together (a different key from the spool's).</summary>
    private const long SchemaLockKey = 0x4179547261636C;

    /// <summary>
    /// Akka.Persistence.Sql's schema for PostgreSQL (provider PostgreSQL15), created when absent: the same names, types
    /// and constraints, so a database it created is used as it is and one created here is one it reads.
    /// </summary>
    private const string Schema = """
        SELECT pg_advisory_xact_lock(@key);
        CREATE TABLE IF NOT EXISTS journal (
            ordering bigint GENERATED ALWAYS AS IDENTITY, created bigint NOT NULL, deleted boolean NOT NULL,
            persistence_id text NOT NULL, sequence_number bigint NOT NULL, message bytea NOT NULL,
            manifest text, identifier integer, writer_uuid text,
            CONSTRAINT "PK_journal" PRIMARY KEY (ordering), CONSTRAINT journal_uq UNIQUE (persistence_id, sequence_number));
        CREATE INDEX IF NOT EXISTS journal_created_idx ON journal (created);
        CREATE INDEX IF NOT EXISTS journal_sequence_number_idx ON journal (sequence_number);
        CREATE TABLE IF NOT EXISTS tags (
            ordering_id bigint NOT NULL, tag text NOT NULL, sequence_nr bigint NOT NULL, persistence_id text NOT NULL,
            CONSTRAINT "PK_tags" PRIMARY KEY (ordering_id, tag));
        CREATE INDEX IF NOT EXISTS tags_persistence_id_sequence_nr_idx ON tags (persistence_id, sequence_nr);
        CREATE INDEX IF NOT EXISTS tags_tag_idx ON tags (tag);
        CREATE TABLE IF NOT EXISTS snapshot (
            persistence_id text NOT NULL, sequence_number bigint NOT NULL, created bigint NOT NULL,
            snapshot bytea, manifest text, serializer_id integer,
            CONSTRAINT "PK_snapshot" PRIMARY KEY (persistence_id, sequence_number));
        CREATE INDEX IF NOT EXISTS snapshot_created_idx ON snapshot (created);
        CREATE INDEX IF NOT EXISTS snapshot_sequence_number_idx ON snapshot (sequence_number);
        """;

    private readonly NpgsqlDataSource _dataSource;
    private readonly GroupCommitWriter<Batch> _writes;
    private readonly SemaphoreSlim _schemaLock = new(1, 1);
    private volatile bool _schemaReady;

    /// <summary>
    /// The store, without touching the database: the tables are created by the first operation that reaches it. The
    /// journal and snapshot plugin actors build their store in their constructors, and Akka.Persistence never creates a
    /// plugin again once its constructor has thrown: a database away at that moment (a node starting during an outage,
    /// or in the seconds after) would otherwise leave the node without a journal until it restarts, healthy by every
    /// probe while nothing is delivered. A failed operation fails only itself; its actor retries.
    /// </summary>
    public PostgresJournalStore(string connectionString)
    {
        _dataSource = PostgresDataSource.Create(connectionString);
        _writes = new GroupCommitWriter<Batch>(CommitAsync, () => { });
    }

    public override Task InsertAsync(IReadOnlyList<JournalRow> rows) => WriteAsync(batch => batch.Rows.AddRange(rows));

    public override Task DeleteToAsync(string persistenceId, long toSequenceNr) => WriteAsync(batch =>
    {
        batch.Add("UPDATE journal SET deleted = true WHERE persistence_id = @pid AND sequence_number <= @to",
            ("pid", persistenceId), ("to", toSequenceNr));
        batch.Add("""
            DELETE FROM journal WHERE persistence_id = @pid AND sequence_number <= @to AND sequence_number <
                (SELECT MAX(sequence_number) FROM journal WHERE persistence_id = @pid AND deleted)
            """, ("pid", persistenceId), ("to", toSequenceNr));
    });

    public override Task SaveSnapshotAsync(string persistenceId, StoredSnapshot snapshot) => WriteAsync(batch =>
        batch.Add("""
            INSERT INTO snapshot (persistence_id, sequence_number, created, snapshot, manifest, serializer_id)
            VALUES (@pid, @seq, @created, @snapshot, @manifest, @serializer)
            ON CONFLICT (persistence_id, sequence_number) DO UPDATE SET created = EXCLUDED.created, snapshot = EXCLUDED.snapshot,
                manifest = EXCLUDED.manifest, serializer_id = EXCLUDED.serializer_id
            """, ("pid", persistenceId), ("seq", snapshot.SequenceNr), ("created", snapshot.Created), ("snapshot", snapshot.Bytes),
            ("manifest", snapshot.Manifest), ("serializer", snapshot.SerializerId)));

    public override Task DeleteSnapshotAsync(string persistenceId, long sequenceNr) => WriteAsync(batch =>
        batch.Add("DELETE FROM snapshot WHERE persistence_id = @pid AND sequence_number = @seq", ("pid", persistenceId), ("seq", sequenceNr)));

    public override Task DeleteSnapshotsAsync(string persistenceId, SnapshotSelectionCriteria criteria) => WriteAsync(batch =>
        batch.Add("""
            DELETE FROM snapshot WHERE persistence_id = @pid AND sequence_number <= @maxSeq AND sequence_number >= @minSeq
                AND created <= @maxTs AND created >= @minTs
            """, [("pid", persistenceId), .. Criteria(criteria)]));

    public override void Close() => _ = CloseAsync();

    protected override async Task<System.Data.Common.DbConnection> OpenReaderAsync(CancellationToken cancellationToken) =>
        await OpenAsync(cancellationToken);

    /// <summary>A pooled connection, after the tables have been made sure of (once, by whichever operation comes first).</summary>
    private async Task<NpgsqlConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        try
        {
            if (!_schemaReady)
            {
                await CreateSchemaAsync(connection, cancellationToken);
            }

            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    private async Task CreateSchemaAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await _schemaLock.WaitAsync(cancellationToken);
        try
        {
            if (_schemaReady)
            {
                return;
            }

            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            await using (var command = new NpgsqlCommand(Schema, connection, transaction))
            {
                command.Parameters.AddWithValue("key", SchemaLockKey);
                await command.ExecuteNonQueryAsync(cancellationToken);
            }

            await transaction.CommitAsync(cancellationToken);
            _schemaReady = true;
        }
        finally
        {
            _schemaLock.Release();
        }
    }

    private async Task CloseAsync()
    {
        await _writes.DisposeAsync();
        await _dataSource.DisposeAsync();
    }

    private Task WriteAsync(Action<Batch> work) => _writes.WriteAsync(work, outboxChanged: false, CancellationToken.None);

    private async Task CommitAsync(IReadOnlyList<Func<Batch, Task>> writes)
    {
        var batch = new Batch();
        foreach (var write in writes)
        {
            await write(batch);
        }

        // A pooled connection per group: one broken by a database restart is not reused.
        await using var connection = await OpenAsync(CancellationToken.None);
        await using var npgsql = batch.Build(connection);
        await npgsql.ExecuteNonQueryAsync();
    }

    /// <summary>The statements of one group, in the order written; consecutive event rows become one INSERT.</summary>
    private sealed class Batch
    {
        private readonly List<NpgsqlBatchCommand> _commands = [];

        public List<JournalRow> Rows { get; } = [];

        public NpgsqlBatchCommand Add(string sql, params (string Name, object Value)[] parameters)
        {
            FlushRows();
            var command = new NpgsqlBatchCommand(sql);
            foreach (var (name, value) in parameters)
            {
                command.Parameters.AddWithValue(name, value);
            }

            _commands.Add(command);
            return command;
        }

        public NpgsqlBatch Build(NpgsqlConnection connection)
        {
            FlushRows();
            var batch = new NpgsqlBatch(connection);
            foreach (var command in _commands)
            {
                batch.BatchCommands.Add(command);
            }

            return batch;
        }

        private void FlushRows()
        {
            if (Rows.Count == 0)
            {
                return;
            }

            // One statement for every row: unnest pairs the arrays element by element.
            var insert = new NpgsqlBatchCommand("""
                INSERT INTO journal (created, deleted, persistence_id, sequence_number, message, manifest, identifier, writer_uuid)
                SELECT r.created, false, r.pid, r.seq, r.message, r.manifest, r.identifier, r.writer
                FROM unnest(@created, @pid, @seq, @message, @manifest, @identifier, @writer) AS r(created, pid, seq, message, manifest, identifier, writer)
                """);
            insert.Parameters.AddWithValue("created", Rows.Select(r => r.Created).ToArray());
            insert.Parameters.AddWithValue("pid", Rows.Select(r => r.PersistenceId).ToArray());
            insert.Parameters.AddWithValue("seq", Rows.Select(r => r.SequenceNr).ToArray());
            insert.Parameters.AddWithValue("message", NpgsqlDbType.Array | NpgsqlDbType.Bytea, Rows.Select(r => r.Message).ToArray());
            insert.Parameters.AddWithValue("manifest", Rows.Select(r => r.Manifest).ToArray());
            insert.Parameters.AddWithValue("identifier", Rows.Select(r => r.Identifier).ToArray());
            insert.Parameters.AddWithValue("writer", Rows.Select(r => r.WriterUuid).ToArray());
            _commands.Add(insert);

            // Tags name their event's ordering, which the server chose: found by the event's key in the same transaction.
            var tagged = Rows.SelectMany(r => r.Tags.Select(t => (Row: r, Tag: t))).ToList();
            if (tagged.Count > 0)
            {
                var tags = new NpgsqlBatchCommand("""
                    INSERT INTO tags (ordering_id, tag, sequence_nr, persistence_id)
                    SELECT j.ordering, t.tag, t.seq, t.pid FROM unnest(@pid, @seq, @tag) AS t(pid, seq, tag)
                    JOIN journal j ON j.persistence_id = t.pid AND j.sequence_number = t.seq
                    """);
                tags.Parameters.AddWithValue("pid", tagged.Select(t => t.Row.PersistenceId).ToArray());
                tags.Parameters.AddWithValue("seq", tagged.Select(t => t.Row.SequenceNr).ToArray());
                tags.Parameters.AddWithValue("tag", tagged.Select(t => t.Tag).ToArray());
                _commands.Add(tags);
            }

            Rows.Clear();
        }
    }
}
