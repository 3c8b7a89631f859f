using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Threading.Channels;
using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence;
using Akka.Persistence.Journal;
using Akka.Persistence.Snapshot;
using Akka.Util;
using Microsoft.Data.Sqlite;

namespace AyTrack.Node.Storage;

/// <summary>
/// The journal's SQLite file, shared by <see cref="SqliteJournal"/> and <see cref="SqliteSnapshotStore"/>: the tables
/// Akka.Persistence.Sql created (same names, columns and meanings, so a data directory written by either is read by
/// the other, and <see cref="JournalDatabase"/> reads both), one writer that commits whatever is waiting as one
/// transaction (one fsync for many domains' events), and prepared statements instead of SQL built per call.
/// </summary>
internal sealed class SqliteJournalFile
{
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<ActorSystem, ConcurrentDictionary<string, Lazy<SqliteJournalFile>>> Files = new();

    /// <summary>At most this many writes share a transaction, so one commit stays short.</summary>
    private const int MaxGroup = 256;

    private readonly string _connectionString;
    private readonly Channel<PendingWrite> _pending = Channel.CreateUnbounded<PendingWrite>(new UnboundedChannelOptions { SingleReader = true });

    private SqliteJournalFile(string connectionString)
    {
        _connectionString = connectionString;
        using (var connection = Open())
        {
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

    /// <summary>The file's writer for this actor system (the journal and the snapshot store share it); closed when the system ends.</summary>
    public static SqliteJournalFile For(ActorSystem system, string connectionString) =>
        Files.GetValue(system, _ => new ConcurrentDictionary<string, Lazy<SqliteJournalFile>>())
            .GetOrAdd(connectionString, c => new Lazy<SqliteJournalFile>(() =>
            {
                var file = new SqliteJournalFile(c);
                system.RegisterOnTermination(file.Close);
                return file;
            })).Value;

    /// <summary>Stops taking writes; the writer finishes those already waiting and closes its connection.</summary>
    public void Close() => _pending.Writer.TryComplete();

    /// <summary>A connection for reading; WAL lets it read while the writer writes.</summary>
    public SqliteConnection Open()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        return connection;
    }

    /// <summary>Runs <paramref name="work"/> in a write transaction, with whatever other writes are waiting.</summary>
    public Task WriteAsync(Action<SqliteWriter> work)
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

    public void SaveSnapshot(string persistenceId, long sequenceNr, long created, byte[] snapshot, string manifest, int serializerId) =>
        Run(_saveSnapshot, scalar: false, persistenceId, sequenceNr, created, snapshot, manifest, serializerId);

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

internal sealed record JournalRow(long Created, string PersistenceId, long SequenceNr, byte[] Message, string Manifest, int Identifier,
    string WriterUuid, IReadOnlyCollection<string> Tags);

/// <summary>
/// Akka.Persistence's journal for one node's SQLite file (the cluster's PostgreSQL stays with Akka.Persistence.Sql):
/// the same rows, written by prepared statements in group commits and read by plain queries. Akka.Persistence.Sql
/// built each statement through linq2db, which was the largest single part of the node's CPU per message and what
/// made recovering 10,000 domain actors take minutes (docs/performance.md).
/// </summary>
public sealed class SqliteJournal : AsyncWriteJournal
{
    private readonly SqliteJournalFile _file;
    private readonly Akka.Serialization.Serialization _serialization;

    /// <summary>The configuration that makes these the journal and snapshot store of an actor system.</summary>
    public static string Hocon(string connectionString)
    {
        var quoted = connectionString.Replace("\\", "\\\\").Replace("\"", "\\\"");
        return $$"""
            akka.persistence.journal {
              plugin = "akka.persistence.journal.aytrack-sqlite"
              aytrack-sqlite {
                class = "{{typeof(SqliteJournal).AssemblyQualifiedName}}"
                plugin-dispatcher = "akka.actor.default-dispatcher"
                connection-string = "{{quoted}}"
              }
            }
            akka.persistence.snapshot-store {
              plugin = "akka.persistence.snapshot-store.aytrack-sqlite"
              aytrack-sqlite {
                class = "{{typeof(SqliteSnapshotStore).AssemblyQualifiedName}}"
                plugin-dispatcher = "akka.actor.default-dispatcher"
                connection-string = "{{quoted}}"
              }
            }
            """;
    }

    public SqliteJournal(Config config)
    {
        _file = SqliteJournalFile.For(Context.System, config.GetString("connection-string"));
        _serialization = Context.System.Serialization;
    }

    protected override async Task<IImmutableList<Exception>> WriteMessagesAsync(IEnumerable<AtomicWrite> messages, CancellationToken cancellationToken)
    {
        var writes = messages.ToList();
        var results = new Exception?[writes.Count];
        var rows = new List<JournalRow>();
        var created = DateTime.UtcNow.Ticks;
        for (var i = 0; i < writes.Count; i++)
        {
            try
            {
                // A payload that cannot be serialised rejects its own write (the actor is told), not the others.
                rows.AddRange(((IImmutableList<IPersistentRepresentation>)writes[i].Payload).Select(p => Row(p, created)));
            }
            catch (Exception error)
            {
                results[i] = error;
            }
        }

        if (rows.Count > 0)
        {
            await _file.WriteAsync(writer =>
            {
                foreach (var row in rows)
                {
                    writer.Insert(row);
                }
            });
        }

        // Akka.Persistence reads null as "written".
        return ImmutableList.Create<Exception>(results!);
    }

    public override async Task ReplayMessagesAsync(IActorContext context, string persistenceId, long fromSequenceNr, long toSequenceNr, long max,
        Action<IPersistentRepresentation> recoveryCallback)
    {
        if (max <= 0)
        {
            return;
        }

        await using var connection = _file.Open();
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT sequence_number, created, message, manifest, identifier, writer_uuid FROM journal
            WHERE persistence_id = $pid AND deleted = 0 AND sequence_number >= $from AND sequence_number <= $to
            ORDER BY sequence_number LIMIT $max
            """;
        command.Parameters.AddWithValue("$pid", persistenceId);
        command.Parameters.AddWithValue("$from", fromSequenceNr);
        command.Parameters.AddWithValue("$to", toSequenceNr);
        command.Parameters.AddWithValue("$max", max);
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            var manifest = reader.IsDBNull(3) ? string.Empty : reader.GetString(3);
            var payload = _serialization.Deserialize((byte[])reader[2], reader.IsDBNull(4) ? 0 : reader.GetInt32(4), manifest);
            recoveryCallback(new Persistent(payload, reader.GetInt64(0), persistenceId, manifest, false, ActorRefs.NoSender,
                reader.IsDBNull(5) ? null : reader.GetString(5), reader.GetInt64(1)));
        }
    }

    public override async Task<long> ReadHighestSequenceNrAsync(string persistenceId, long fromSequenceNr, CancellationToken cancellationToken)
    {
        await using var connection = _file.Open();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT MAX(sequence_number) FROM journal WHERE persistence_id = $pid";
        command.Parameters.AddWithValue("$pid", persistenceId);
        return await command.ExecuteScalarAsync(cancellationToken) is long highest ? highest : 0;
    }

    protected override Task DeleteMessagesToAsync(string persistenceId, long toSequenceNr, CancellationToken cancellationToken) =>
        _file.WriteAsync(writer => writer.DeleteTo(persistenceId, toSequenceNr));

    private JournalRow Row(IPersistentRepresentation message, long created)
    {
        var (payload, tags) = message.Payload is Tagged tagged
            ? (tagged.Payload, (IReadOnlyCollection<string>)tagged.Tags.ToList())
            : (message.Payload, []);
        var (bytes, manifest, identifier) = SqliteSerialization.Serialize(_serialization, payload);
        return new JournalRow(created, message.PersistenceId, message.SequenceNr, bytes, manifest, identifier, message.WriterGuid, tags);
    }
}

/// <summary>Snapshots in the same SQLite file, in Akka.Persistence.Sql's snapshot table.</summary>
public sealed class SqliteSnapshotStore : SnapshotStore
{
    private readonly SqliteJournalFile _file;
    private readonly Akka.Serialization.Serialization _serialization;

    public SqliteSnapshotStore(Config config)
    {
        _file = SqliteJournalFile.For(Context.System, config.GetString("connection-string"));
        _serialization = Context.System.Serialization;
    }

    protected override async Task<SelectedSnapshot?> LoadAsync(string persistenceId, SnapshotSelectionCriteria criteria, CancellationToken cancellationToken)
    {
        await using var connection = _file.Open();
        await using var command = connection.CreateCommand();
        command.CommandText = $"""
            SELECT sequence_number, created, snapshot, manifest, serializer_id FROM snapshot
            WHERE persistence_id = $pid {Where(command, criteria)}
            ORDER BY sequence_number DESC LIMIT 1
            """;
        command.Parameters.AddWithValue("$pid", persistenceId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }

        var snapshot = _serialization.Deserialize((byte[])reader[2], reader.IsDBNull(4) ? 0 : reader.GetInt32(4),
            reader.IsDBNull(3) ? string.Empty : reader.GetString(3));
        return new SelectedSnapshot(new SnapshotMetadata(persistenceId, reader.GetInt64(0), new DateTime(reader.GetInt64(1), DateTimeKind.Utc)), snapshot);
    }

    protected override Task SaveAsync(SnapshotMetadata metadata, object snapshot, CancellationToken cancellationToken)
    {
        var (bytes, manifest, identifier) = SqliteSerialization.Serialize(_serialization, snapshot);
        return _file.WriteAsync(writer => writer.SaveSnapshot(metadata.PersistenceId, metadata.SequenceNr, metadata.Timestamp.Ticks, bytes, manifest, identifier));
    }

    protected override Task DeleteAsync(SnapshotMetadata metadata, CancellationToken cancellationToken) =>
        _file.WriteAsync(writer => writer.Execute("DELETE FROM snapshot WHERE persistence_id = $pid AND sequence_number = $seq",
            ("$pid", metadata.PersistenceId), ("$seq", metadata.SequenceNr)));

    protected override Task DeleteAsync(string persistenceId, SnapshotSelectionCriteria criteria, CancellationToken cancellationToken) =>
        _file.WriteAsync(writer => writer.Execute("""
            DELETE FROM snapshot WHERE persistence_id = $pid AND sequence_number <= $maxSeq AND sequence_number >= $minSeq
                AND created <= $maxTs AND created >= $minTs
            """, ("$pid", persistenceId), ("$maxSeq", criteria.MaxSequenceNr), ("$minSeq", criteria.MinSequenceNr),
            ("$maxTs", criteria.MaxTimeStamp.Ticks), ("$minTs", criteria.MinTimestamp?.Ticks ?? 0L)));

    private static string Where(SqliteCommand command, SnapshotSelectionCriteria criteria)
    {
        command.Parameters.AddWithValue("$maxSeq", criteria.MaxSequenceNr);
        command.Parameters.AddWithValue("$minSeq", criteria.MinSequenceNr);
        command.Parameters.AddWithValue("$maxTs", criteria.MaxTimeStamp.Ticks);
        command.Parameters.AddWithValue("$minTs", criteria.MinTimestamp?.Ticks ?? 0L);
        return "AND sequence_number <= $maxSeq AND sequence_number >= $minSeq AND created <= $maxTs AND created >= $minTs";
    }
}

/// <summary>How Akka.Persistence.Sql stores a payload: the serializer's id, its string manifest (or the type's name when the serializer wants one), the bytes.</summary>
internal static class SqliteSerialization
{
    public static (byte[] Bytes, string Manifest, int Identifier) Serialize(Akka.Serialization.Serialization serialization, object payload)
    {
        var serializer = serialization.FindSerializerFor(payload);
        var manifest = serializer switch
        {
            Akka.Serialization.SerializerWithStringManifest named => named.Manifest(payload),
            _ when serializer.IncludeManifest => payload.GetType().TypeQualifiedName(),
            _ => string.Empty,
        };
        var bytes = Akka.Serialization.Serialization.WithTransport(serialization.System, (serializer, payload), state => state.serializer.ToBinary(state.payload));
        return (bytes, manifest, serializer.Identifier);
    }
}
