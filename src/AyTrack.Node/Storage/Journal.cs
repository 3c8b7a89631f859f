using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Data.Common;
using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence;
using Akka.Persistence.Journal;
using Akka.Persistence.Snapshot;
using Akka.Util;

namespace AyTrack.Node.Storage;

/// <summary>
/// Where the journal and snapshot store keep their rows: one node's SQLite file (<see cref="SqliteJournalStore"/>) or
/// the cluster's PostgreSQL database (<see cref="PostgresJournalStore"/>). Both use Akka.Persistence.Sql's tables,
/// columns and meanings, so a database written by either is read by the other, and both commit every write waiting as
/// one transaction (one durable commit for many domains' events).
/// </summary>
internal abstract class JournalStore
{
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<ActorSystem, ConcurrentDictionary<(string, string), Lazy<JournalStore>>> Stores = new();

    /// <summary>The store for this actor system and database (the journal and the snapshot store share it); closed when the system ends.</summary>
    public static JournalStore For(ActorSystem system, Config config)
    {
        var provider = config.GetString("provider", "sqlite");
        var connectionString = config.GetString("connection-string");
        return Stores.GetValue(system, _ => new ConcurrentDictionary<(string, string), Lazy<JournalStore>>())
            .GetOrAdd((provider, connectionString), key => new Lazy<JournalStore>(() =>
            {
                JournalStore store = key.Item1 switch
                {
                    "sqlite" => new SqliteJournalStore(key.Item2),
                    "postgresql" => new PostgresJournalStore(key.Item2),
                    _ => throw new ConfigurationException($"journal provider '{key.Item1}' is not sqlite or postgresql"),
                };
                system.RegisterOnTermination(store.Close);
                return store;
            })).Value;
    }

    /// <summary>Writes the rows (all or none), with whatever other writes are waiting.</summary>
    public abstract Task InsertAsync(IReadOnlyList<JournalRow> rows);

    /// <summary>
    /// Deletes an actor's events up to <paramref name="toSequenceNr"/>. As Akka.Persistence.Sql does, the highest
    /// deleted row stays (marked deleted), so its sequence number is never reused.
    /// </summary>
    public abstract Task DeleteToAsync(string persistenceId, long toSequenceNr);

    /// <summary>An actor's events that are not deleted, in order.</summary>
    public async Task ReplayAsync(string persistenceId, long fromSequenceNr, long toSequenceNr, long max, Action<StoredEvent> onEvent,
        CancellationToken cancellationToken)
    {
        await using var connection = await OpenReaderAsync(cancellationToken);
        await using var command = Command(connection, """
            SELECT sequence_number, created, message, manifest, identifier, writer_uuid FROM journal
            WHERE persistence_id = @pid AND NOT deleted AND sequence_number >= @from AND sequence_number <= @to
            ORDER BY sequence_number LIMIT @max
            """, ("@pid", persistenceId), ("@from", fromSequenceNr), ("@to", toSequenceNr), ("@max", max));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            onEvent(new StoredEvent(reader.GetInt64(0), reader.GetInt64(1), reader.GetFieldValue<byte[]>(2), reader.IsDBNull(3) ? string.Empty : reader.GetString(3),
                reader.IsDBNull(4) ? 0 : reader.GetInt32(4), reader.IsDBNull(5) ? null : reader.GetString(5)));
        }
    }

    /// <summary>The highest sequence number ever written for the actor (deleted rows included), 0 for none.</summary>
    public async Task<long> ReadHighestSequenceNrAsync(string persistenceId, CancellationToken cancellationToken)
    {
        await using var connection = await OpenReaderAsync(cancellationToken);
        await using var command = Command(connection, "SELECT MAX(sequence_number) FROM journal WHERE persistence_id = @pid", ("@pid", persistenceId));
        return await command.ExecuteScalarAsync(cancellationToken) is long highest ? highest : 0;
    }

    /// <summary>The newest snapshot of the actor that meets the criteria.</summary>
    public async Task<StoredSnapshot?> LoadSnapshotAsync(string persistenceId, SnapshotSelectionCriteria criteria, CancellationToken cancellationToken)
    {
        await using var connection = await OpenReaderAsync(cancellationToken);
        await using var command = Command(connection, """
            SELECT sequence_number, created, snapshot, manifest, serializer_id FROM snapshot
            WHERE persistence_id = @pid AND sequence_number <= @maxSeq AND sequence_number >= @minSeq AND created <= @maxTs AND created >= @minTs
            ORDER BY sequence_number DESC LIMIT 1
            """, [("@pid", persistenceId), .. Criteria(criteria)]);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? new StoredSnapshot(reader.GetInt64(0), reader.GetInt64(1), reader.GetFieldValue<byte[]>(2), reader.IsDBNull(3) ? string.Empty : reader.GetString(3),
                reader.IsDBNull(4) ? 0 : reader.GetInt32(4))
            : null;
    }

    public abstract Task SaveSnapshotAsync(string persistenceId, StoredSnapshot snapshot);

    public abstract Task DeleteSnapshotAsync(string persistenceId, long sequenceNr);

    public abstract Task DeleteSnapshotsAsync(string persistenceId, SnapshotSelectionCriteria criteria);

    /// <summary>Stops taking writes; those already waiting are finished.</summary>
    public abstract void Close();

    /// <summary>
    /// A connection to read on, apart from the writer's. The reads above are one SQL text for both databases: both
    /// drivers take <c>@name</c> parameters, and <c>NOT deleted</c> reads SQLite's 0/1 column as PostgreSQL's boolean.
    /// </summary>
    protected abstract Task<DbConnection> OpenReaderAsync(CancellationToken cancellationToken);

    /// <summary>A snapshot selection as the parameters <c>@maxSeq</c>, <c>@minSeq</c>, <c>@maxTs</c> and <c>@minTs</c>.</summary>
    protected static (string Name, object Value)[] Criteria(SnapshotSelectionCriteria criteria) =>
    [
        ("@maxSeq", criteria.MaxSequenceNr), ("@minSeq", criteria.MinSequenceNr),
        ("@maxTs", criteria.MaxTimeStamp.Ticks), ("@minTs", criteria.MinTimestamp?.Ticks ?? 0L),
    ];

    private static DbCommand Command(DbConnection connection, string sql, params (string Name, object Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = name;
            parameter.Value = value;
            command.Parameters.Add(parameter);
        }

        return command;
    }
}

internal sealed record JournalRow(long Created, string PersistenceId, long SequenceNr, byte[] Message, string Manifest, int Identifier,
    string WriterUuid, IReadOnlyCollection<string> Tags);

internal sealed record StoredEvent(long SequenceNr, long Created, byte[] Message, string Manifest, int Identifier, string? WriterUuid);

internal sealed record StoredSnapshot(long SequenceNr, long Created, byte[] Bytes, string Manifest, int SerializerId);

/// <summary>
/// Akka.Persistence's journal on a <see cref="JournalStore"/>: the same rows Akka.Persistence.Sql writes, by prepared
/// or batched statements in group commits and read by plain queries. Akka.Persistence.Sql built each statement through
/// linq2db, which was the largest single part of the node's CPU per message and what made recovering 10,000 domain
/// actors take minutes (docs/performance.md).
/// </summary>
public sealed class AyTrackJournal : AsyncWriteJournal
{
    private readonly JournalStore _store;
    private readonly Akka.Serialization.Serialization _serialization;

    /// <summary>The configuration that makes these the journal and snapshot store of an actor system.</summary>
    /// <param name="provider"><c>sqlite</c> or <c>postgresql</c>.</param>
    public static string Hocon(string provider, string connectionString)
    {
        var quoted = connectionString.Replace("\\", "\\\\").Replace("\"", "\\\"");
        return $$"""
            akka.persistence.journal {
              plugin = "akka.persistence.journal.aytrack"
              aytrack {
                class = "{{typeof(AyTrackJournal).AssemblyQualifiedName}}"
                plugin-dispatcher = "akka.actor.default-dispatcher"
                provider = "{{provider}}"
                connection-string = "{{quoted}}"
              }
            }
            akka.persistence.snapshot-store {
              plugin = "akka.persistence.snapshot-store.aytrack"
              aytrack {
                class = "{{typeof(AyTrackSnapshotStore).AssemblyQualifiedName}}"
                plugin-dispatcher = "akka.actor.default-dispatcher"
                provider = "{{provider}}"
                connection-string = "{{quoted}}"
              }
            }
            """;
    }

    public AyTrackJournal(Config config)
    {
        _store = JournalStore.For(Context.System, config);
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
            await _store.InsertAsync(rows);
        }

        // Akka.Persistence reads null as "written".
        return ImmutableList.Create<Exception>(results!);
    }

    public override Task ReplayMessagesAsync(IActorContext context, string persistenceId, long fromSequenceNr, long toSequenceNr, long max,
        Action<IPersistentRepresentation> recoveryCallback) =>
        max <= 0
            ? Task.CompletedTask
            : _store.ReplayAsync(persistenceId, fromSequenceNr, toSequenceNr, max, stored =>
            {
                var payload = _serialization.Deserialize(stored.Message, stored.Identifier, stored.Manifest);
                recoveryCallback(new Persistent(payload, stored.SequenceNr, persistenceId, stored.Manifest, false, ActorRefs.NoSender,
                    stored.WriterUuid, stored.Created));
            }, CancellationToken.None);

    public override Task<long> ReadHighestSequenceNrAsync(string persistenceId, long fromSequenceNr, CancellationToken cancellationToken) =>
        _store.ReadHighestSequenceNrAsync(persistenceId, cancellationToken);

    protected override Task DeleteMessagesToAsync(string persistenceId, long toSequenceNr, CancellationToken cancellationToken) =>
        _store.DeleteToAsync(persistenceId, toSequenceNr);

    private JournalRow Row(IPersistentRepresentation message, long created)
    {
        var (payload, tags) = message.Payload is Tagged tagged
            ? (tagged.Payload, (IReadOnlyCollection<string>)tagged.Tags.ToList())
            : (message.Payload, []);
        var (bytes, manifest, identifier) = JournalSerialization.Serialize(_serialization, payload);
        return new JournalRow(created, message.PersistenceId, message.SequenceNr, bytes, manifest, identifier, message.WriterGuid, tags);
    }
}

/// <summary>Snapshots beside the journal, in Akka.Persistence.Sql's snapshot table.</summary>
public sealed class AyTrackSnapshotStore : SnapshotStore
{
    private readonly JournalStore _store;
    private readonly Akka.Serialization.Serialization _serialization;

    public AyTrackSnapshotStore(Config config)
    {
        _store = JournalStore.For(Context.System, config);
        _serialization = Context.System.Serialization;
    }

    protected override async Task<SelectedSnapshot?> LoadAsync(string persistenceId, SnapshotSelectionCriteria criteria, CancellationToken cancellationToken)
    {
        var stored = await _store.LoadSnapshotAsync(persistenceId, criteria, cancellationToken);
        return stored is null
            ? null
            : new SelectedSnapshot(new SnapshotMetadata(persistenceId, stored.SequenceNr, new DateTime(stored.Created, DateTimeKind.Utc)),
                _serialization.Deserialize(stored.Bytes, stored.SerializerId, stored.Manifest));
    }

    protected override Task SaveAsync(SnapshotMetadata metadata, object snapshot, CancellationToken cancellationToken)
    {
        var (bytes, manifest, identifier) = JournalSerialization.Serialize(_serialization, snapshot);
        return _store.SaveSnapshotAsync(metadata.PersistenceId, new StoredSnapshot(metadata.SequenceNr, metadata.Timestamp.Ticks, bytes, manifest, identifier));
    }

    protected override Task DeleteAsync(SnapshotMetadata metadata, CancellationToken cancellationToken) =>
        _store.DeleteSnapshotAsync(metadata.PersistenceId, metadata.SequenceNr);

    protected override Task DeleteAsync(string persistenceId, SnapshotSelectionCriteria criteria, CancellationToken cancellationToken) =>
        _store.DeleteSnapshotsAsync(persistenceId, criteria);
}

/// <summary>How Akka.Persistence.Sql stores a payload: the serializer's id, its string manifest (or the type's name when the serializer wants one), the bytes.</summary>
internal static class JournalSerialization
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
