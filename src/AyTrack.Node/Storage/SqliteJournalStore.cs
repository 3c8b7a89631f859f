using System.Threading.Channels;
using Akka.Persistence;
using Microsoft.Data.Sqlite;

namespace AyTrack.Node.Storage;

/// <summary>
/// One node's journal file (SQLite): the tables Akka.Persistence.Sql created (<see cref="JournalStore"/>), one writer
/// thread that commits whatever is waiting as one transaction (one fsync for many domains' events) with statements
/// prepared once, and reads on connections of their own (WAL lets them read while the writer writes).
/// </summary>
internal sealed class SqliteJournalStore : JournalStore
{
    /// <summary>At most this many writes share a transaction, so one commit stays short.</summary>
    private const int MaxGroup = 256;

    private readonly string _connectionString;
    private readonly Channel<PendingWrite> _pending = Channel.CreateUnbounded<PendingWrite>(new UnboundedChannelOptions { SingleReader = true });

    public SqliteJournalStore(string connectionString)
    {
        _connectionString = connectionString;
        using (var connection = Open())
        {
            // WAL (kept in the file): readers recovering actors never wait for the writer, nor it for them, and with
            // SQLite's default synchronous=FULL every commit is durable.
            Execute(connection, "PRAGMA journal_mode=WAL;");
            Execute(connection, Schema);
        }

        // A thread of its own: the writer blocks in SQLite (and its fsync) by nature, and a pool thread it needed to wake
        // on would be one the node's busiest moments may not have to give; every write waits on this loop.
        new Thread(WriteLoop) { IsBackground = true, Name = "aytrack-journal-writer" }.Start();
    }

    /// <summary>Akka.Persistence.Sql's schema for SQLite, created when absent (a new data directory).</summary>
    private const string Schema = """
        CREATE TABLE IF NOT EXISTS [journal] (
            [ordering] INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, [created] INTEGER NOT NULL, [deleted] Bit NOT NULL,
            [persistence_id] NVarChar(255) NOT NULL, [sequence_number] INTEGER NOT NULL, [message] VarBinary NOT NULL,
            [manifest] NVarChar(500) NULL, [identifier] INTEGER NULL, [writer_uuid] NVarChar(128) NULL);
        CREATE UNIQUE INDEX IF NOT EXISTS journal_uq ON journal (persistence_id, sequence_number);
        CREATE INDEX IF NOT EXISTS journal_created_idx ON journal (created);
        CREATE INDEX IF NOT EXISTS journal_sequence_number_idx ON journal (sequence_number);
        CREATE TABLE IF NOT EXISTS [tags] (
            [ordering_id] INTEGER NOT NULL, [tag] NVarChar(64) NOT NULL, [sequence_nr] INTEGER NOT NULL,
            [persistence_id] NVarChar(255) NOT NULL, CONSTRAINT [PK_tags] PRIMARY KEY ([ordering_id], [tag]));
        CREATE INDEX IF NOT EXISTS tags_persistence_id_sequence_nr_idx ON tags (persistence_id, sequence_nr);
        CREATE INDEX IF NOT EXISTS tags_tag_idx ON tags (tag);
        CREATE TABLE IF NOT EXISTS [snapshot] (
            [persistence_id] NVarChar(255) NOT NULL, [sequence_number] INTEGER NOT NULL, [created] INTEGER NOT NULL,
            [snapshot] VarBinary NULL, [manifest] NVarChar(500) NULL, [serializer_id] INTEGER NULL,
            CONSTRAINT [PK_snapshot] PRIMARY KEY ([persistence_id], [sequence_number]));
        CREATE INDEX IF NOT EXISTS snapshot_sequence_number_idx ON snapshot (sequence_number);
        CREATE INDEX IF NOT EXISTS snapshot_created_idx ON snapshot (created);
        """;

    /// <summary>Stops taking writes; the writer finishes those already waiting and closes its connection.</summary>
    public override void Close() => _pending.Writer.TryComplete();

    protected override Task<System.Data.Common.DbConnection> OpenReaderAsync(CancellationToken cancellationToken) =>
        Task.FromResult<System.Data.Common.DbConnection>(Open());

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        return connection;
    }

    public override Task InsertAsync(IReadOnlyList<JournalRow> rows) => WriteAsync(writer =>
    {
        foreach (var row in rows)
        {
            writer.Insert(row);
        }
    });

    public override Task DeleteToAsync(string persistenceId, long toSequenceNr) =>
        WriteAsync(writer => writer.DeleteTo(persistenceId, toSequenceNr));

    public override Task SaveSnapshotAsync(string persistenceId, StoredSnapshot snapshot) =>
        WriteAsync(writer => writer.SaveSnapshot(persistenceId, snapshot));

    public override Task DeleteSnapshotAsync(string persistenceId, long sequenceNr) =>
        WriteAsync(writer => writer.Execute("DELETE FROM snapshot WHERE persistence_id = $pid AND sequence_number = $seq",
            ("$pid", persistenceId), ("$seq", sequenceNr)));

    public override Task DeleteSnapshotsAsync(string persistenceId, SnapshotSelectionCriteria criteria) =>
        WriteAsync(writer => writer.Execute("""
            DELETE FROM snapshot WHERE persistence_id = @pid AND sequence_number <= @maxSeq AND sequence_number >= @minSeq
                AND created <= @maxTs AND created >= @minTs
            """, [("@pid", persistenceId), .. Criteria(criteria)]));

    /// <summary>Runs <paramref name="work"/> in a write transaction, with whatever other writes are waiting.</summary>
    private Task WriteAsync(Action<SqliteWriter> work)
    {
        var pending = new PendingWrite(work, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        if (!_pending.Writer.TryWrite(pending))
        {
            pending.Done.SetException(new InvalidOperationException("The journal is closed"));
        }

        return pending.Done.Task;
    }

    private void WriteLoop()
    {
        using var connection = Open();
        var writer = new SqliteWriter(connection);
        var group = new List<PendingWrite>(MaxGroup);
        while (_pending.Reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
        {
            group.Clear();
            while (group.Count < MaxGroup && _pending.Reader.TryRead(out var next))
            {
                group.Add(next);
            }

            try
            {
                writer.Run(group.Select(p => p.Work));
                foreach (var done in group)
                {
                    done.Done.SetResult();
                }
            }
            catch (Exception) when (group.Count > 1)
            {
                // One write's failure (a duplicate sequence number) must not fail the writes that shared its commit.
                foreach (var one in group)
                {
                    try
                    {
                        writer.Run([one.Work]);
                        one.Done.SetResult();
                    }
                    catch (Exception error)
                    {
                        one.Done.SetException(error);
                    }
                }
            }
            catch (Exception error)
            {
                group[0].Done.SetException(error);
            }
        }
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private sealed record PendingWrite(Action<SqliteWriter> Work, TaskCompletionSource Done);
}

/// <summary>The writer's connection with its statements prepared once.</summary>
internal sealed class SqliteWriter
{
    private readonly SqliteConnection _connection;
    private readonly SqliteCommand _insert;
    private readonly SqliteCommand _tag;
    private readonly SqliteCommand _markDeleted;
    private readonly SqliteCommand _deleteBelow;
    private readonly SqliteCommand _saveSnapshot;
    private SqliteTransaction? _transaction;

    public SqliteWriter(SqliteConnection connection)
    {
        _connection = connection;
        _insert = Prepare("""
            INSERT INTO journal (created, deleted, persistence_id, sequence_number, message, manifest, identifier, writer_uuid)
            VALUES ($created, 0, $pid, $seq, $message, $manifest, $identifier, $writer) RETURNING ordering
            """, "$created", "$pid", "$seq", "$message", "$manifest", "$identifier", "$writer");
        _tag = Prepare("INSERT INTO tags (ordering_id, tag, sequence_nr, persistence_id) VALUES ($ordering, $tag, $seq, $pid)",
            "$ordering", "$tag", "$seq", "$pid");
        _markDeleted = Prepare("UPDATE journal SET deleted = 1 WHERE persistence_id = $pid AND sequence_number <= $to", "$pid", "$to");
        // As Akka.Persistence.Sql does: the highest deleted row stays (marked), so the sequence number is never reused.
        _deleteBelow = Prepare("""
            DELETE FROM journal WHERE persistence_id = $pid AND sequence_number <= $to AND sequence_number <
                (SELECT MAX(sequence_number) FROM journal WHERE persistence_id = $pid AND deleted = 1)
            """, "$pid", "$to");
        _saveSnapshot = Prepare("""
            INSERT OR REPLACE INTO snapshot (persistence_id, sequence_number, created, snapshot, manifest, serializer_id)
            VALUES ($pid, $seq, $created, $snapshot, $manifest, $serializer)
            """, "$pid", "$seq", "$created", "$snapshot", "$manifest", "$serializer");
    }

    public void Run(IEnumerable<Action<SqliteWriter>> works)
    {
        using var transaction = _connection.BeginTransaction();
        _transaction = transaction;
        try
        {
            foreach (var work in works)
            {
                work(this);
            }

            transaction.Commit();
        }
        finally
        {
            _transaction = null;
        }
    }

    public void Insert(JournalRow row)
    {
        var ordering = (long)Run(_insert, scalar: true, row.Created, row.PersistenceId, row.SequenceNr, row.Message, row.Manifest, row.Identifier, row.WriterUuid)!;
        foreach (var tag in row.Tags)
        {
            Run(_tag, scalar: false, ordering, tag, row.SequenceNr, row.PersistenceId);
        }
    }

    public void DeleteTo(string persistenceId, long toSequenceNr)
    {
        Run(_markDeleted, scalar: false, persistenceId, toSequenceNr);
        Run(_deleteBelow, scalar: false, persistenceId, toSequenceNr);
    }

    public void SaveSnapshot(string persistenceId, StoredSnapshot snapshot) =>
        Run(_saveSnapshot, scalar: false, persistenceId, snapshot.SequenceNr, snapshot.Created, snapshot.Bytes, snapshot.Manifest, snapshot.SerializerId);

    public void Execute(string sql, params (string Name, object Value)[] parameters)
    {
        using var command = _connection.CreateCommand();
        command.Transaction = _transaction;
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        command.ExecuteNonQuery();
    }

    private SqliteCommand Prepare(string sql, params string[] names)
    {
        var command = _connection.CreateCommand();
        command.CommandText = sql;
        foreach (var name in names)
        {
            command.Parameters.Add(new SqliteParameter { ParameterName = name });
        }

        return command;
    }

    private object? Run(SqliteCommand command, bool scalar, params object?[] values)
    {
        command.Transaction = _transaction;
        for (var i = 0; i < values.Length; i++)
        {
            command.Parameters[i].Value = values[i] ?? DBNull.Value;
        }

        return scalar ? command.ExecuteScalar() : command.ExecuteNonQuery();
    }
}

