using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence;
using Akka.Persistence.Journal;
using AyTrack.Node.Storage;
using Microsoft.Data.Sqlite;
using Xunit;

namespace AyTrack.Integration.Tests;

/// <summary>
/// The node's journal and snapshot store, on one node's SQLite file and on the cluster's PostgreSQL: they read what
/// Akka.Persistence.Sql wrote (an upgrade loses nothing) and write rows it reads back (a downgrade neither), keep each
/// actor's events in order under concurrent writers sharing commits, and never reuse a sequence number after a deletion.
/// </summary>
public abstract class JournalContract
{
    /// <summary>The provider's name in our journal's configuration and in Akka.Persistence.Sql's.</summary>
    protected abstract (string Ours, string AkkaPersistenceSql) Provider { get; }

    protected abstract string ConnectionString { get; }

    private ActorSystem Ours() => ActorSystem.Create("ours", ConfigurationFactory.ParseString(AyTrackJournal.Hocon(Provider.Ours, ConnectionString)));

    private ActorSystem AkkaPersistenceSql() => ActorSystem.Create("sql", ConfigurationFactory.ParseString($$"""
        akka.persistence.journal.plugin = "akka.persistence.journal.sql"
        akka.persistence.journal.sql { connection-string = "{{ConnectionString}}", provider-name = "{{Provider.AkkaPersistenceSql}}", auto-initialize = true }
        akka.persistence.snapshot-store.plugin = "akka.persistence.snapshot-store.sql"
        akka.persistence.snapshot-store.sql { connection-string = "{{ConnectionString}}", provider-name = "{{Provider.AkkaPersistenceSql}}", auto-initialize = true }
        """).WithFallback(Akka.Persistence.Sql.SqlPersistence.DefaultConfiguration));

    protected static async Task<Notes.State> WriteAsync(ActorSystem system, string id, params object[] commands)
    {
        var actor = system.ActorOf(Props.Create(() => new Notes(id)));
        Notes.State state = null!;
        foreach (var command in commands)
        {
            state = await actor.Ask<Notes.State>(command, TimeSpan.FromSeconds(30));
        }

        await actor.GracefulStop(TimeSpan.FromSeconds(10));
        return state;
    }

    protected static Task<Notes.State> ReadAsync(ActorSystem system, string id) => WriteAsync(system, id, Notes.Get.Instance);

    [Fact]
    public async Task Rows_written_by_Akka_Persistence_Sql_are_recovered_and_continued_and_the_other_way_round()
    {
        using (var sql = AkkaPersistenceSql())
        {
            await WriteAsync(sql, "domain-a", "one", "two", Notes.Snap.Instance, "three");
            await sql.Terminate();
        }

        using (var ours = Ours())
        {
            var recovered = await ReadAsync(ours, "domain-a");
            Assert.Equal(["one", "two", "three"], recovered.Notes);
            Assert.True(recovered.FromSnapshot);
            Assert.Equal(3, recovered.SequenceNr);
            await WriteAsync(ours, "domain-a", "four", Notes.Snap.Instance, "five");
            await WriteAsync(ours, "domain-b", "b1");
            await ours.Terminate();
        }

        using (var sql = AkkaPersistenceSql())
        {
            var a = await ReadAsync(sql, "domain-a");
            Assert.Equal(["one", "two", "three", "four", "five"], a.Notes);
            Assert.Equal(5, a.SequenceNr);
            Assert.Equal(["b1"], (await ReadAsync(sql, "domain-b")).Notes);
            await sql.Terminate();
        }
    }

    [Fact]
    public async Task Concurrent_writers_share_commits_and_each_keeps_its_order()
    {
        using (var ours = Ours())
        {
            await Task.WhenAll(Enumerable.Range(0, 40).Select(i =>
                WriteAsync(ours, $"domain-{i}", Enumerable.Range(0, 25).Select(n => (object)$"{i}:{n}").ToArray())));
            await ours.Terminate();
        }

        using (var again = Ours())
        {
            foreach (var i in Enumerable.Range(0, 40))
            {
                var state = await ReadAsync(again, $"domain-{i}");
                Assert.Equal(Enumerable.Range(0, 25).Select(n => $"{i}:{n}"), state.Notes);
            }

            await again.Terminate();
        }
    }

    [Fact]
    public async Task Deleted_events_stay_gone_and_their_sequence_numbers_are_not_reused()
    {
        using var ours = Ours();
        await WriteAsync(ours, "domain-d", "one", "two", "three", new Notes.DeleteTo(3));
        var afterDelete = await ReadAsync(ours, "domain-d");
        Assert.Empty(afterDelete.Notes);
        Assert.Equal(3, afterDelete.SequenceNr);

        await WriteAsync(ours, "domain-d", "four");
        var state = await ReadAsync(ours, "domain-d");
        Assert.Equal(["four"], state.Notes);
        Assert.Equal(4, state.SequenceNr);
        await ours.Terminate();
    }

    [Fact]
    public async Task A_tagged_event_is_recovered_as_its_payload_and_its_tag_row_names_it()
    {
        using (var ours = Ours())
        {
            await WriteAsync(ours, "domain-t", "plain", new Notes.TaggedNote("marked", "audit"));
            Assert.Equal(["plain", "marked"], (await ReadAsync(ours, "domain-t")).Notes);
            await ours.Terminate();
        }

        var database = Provider.Ours == "sqlite" ? JournalDatabase.Sqlite(ConnectionString) : JournalDatabase.Postgres(ConnectionString);
        await using var connection = (await database.OpenAsync(CancellationToken.None))!;
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT t.sequence_nr FROM tags t JOIN journal j ON j.ordering = t.ordering_id
            WHERE t.tag = 'audit' AND t.persistence_id = 'domain-t' AND j.persistence_id = 'domain-t' AND j.sequence_number = t.sequence_nr
            """;
        Assert.Equal(2L, Convert.ToInt64(await command.ExecuteScalarAsync()));
    }

    /// <summary>A persistent actor that keeps notes: each string command is an event, snapshots and deletions on request.</summary>
    protected sealed class Notes : ReceivePersistentActor, IWithUnboundedStash
    {
        private readonly List<string> _notes = [];
        private bool _fromSnapshot;

        public Notes(string id)
        {
            PersistenceId = id;
            Recover<SnapshotOffer>(offer =>
            {
                _notes.AddRange(((string)offer.Snapshot).Split('|', StringSplitOptions.RemoveEmptyEntries));
                _fromSnapshot = true;
            });
            Recover<string>(_notes.Add);
            Ready();
        }

        public override string PersistenceId { get; }

        private void Ready()
        {
            Command<string>(note => Persist(note, n =>
            {
                _notes.Add(n);
                Sender.Tell(Current());
            }));
            Command<TaggedNote>(note => Persist(new Tagged(note.Note, [note.Tag]), _ =>
            {
                _notes.Add(note.Note);
                Sender.Tell(Current());
            }));
            Command<Snap>(_ =>
            {
                var asker = Sender;
                SaveSnapshot(string.Join('|', _notes));
                Become(() => WaitingFor<SaveSnapshotSuccess>(asker));
            });
            Command<DeleteTo>(delete =>
            {
                var asker = Sender;
                DeleteMessages(delete.SequenceNr);
                _notes.Clear();
                Become(() => WaitingFor<DeleteMessagesSuccess>(asker));
            });
            Command<Get>(_ => Sender.Tell(Current()));
        }

        private void WaitingFor<T>(IActorRef asker)
        {
            Command<T>(_ =>
            {
                asker.Tell(Current());
                Stash.UnstashAll();
                Become(Ready);
            });
            CommandAny(_ => Stash.Stash());
        }

        private State Current() => new([.. _notes], _fromSnapshot, LastSequenceNr);

        public sealed record State(IReadOnlyList<string> Notes, bool FromSnapshot, long SequenceNr);

        public sealed class Snap
        {
            public static readonly Snap Instance = new();
        }

        public sealed class Get
        {
            public static readonly Get Instance = new();
        }

        public sealed record DeleteTo(long SequenceNr);

        public sealed record TaggedNote(string Note, string Tag);
    }
}

public sealed class SqliteJournalTests : JournalContract, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("aytrack-journal").FullName;

    protected override (string Ours, string AkkaPersistenceSql) Provider => ("sqlite", "SQLite.MS");

    protected override string ConnectionString => new SqliteConnectionStringBuilder { DataSource = Path.Combine(_dir, "journal.db"), DefaultTimeout = 30 }.ToString();

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }
}

public sealed class PostgresJournalTests(PostgresFixture postgres) : JournalContract, IClassFixture<PostgresFixture>
{
    private string? _database;

    protected override (string Ours, string AkkaPersistenceSql) Provider => ("postgresql", "PostgreSQL.15");

    // A database of its own per test (each test is a new instance of this class).
    protected override string ConnectionString =>
        _database ??= postgres.Server.CreateDatabaseAsync("journal_" + Guid.NewGuid().ToString("N")).GetAwaiter().GetResult();

    [Fact]
    public async Task A_journal_first_used_while_the_database_is_away_serves_once_it_is_back()
    {
        // The first persistent actor creates the journal and snapshot plugins; Akka.Persistence never creates a plugin
        // again once its constructor has failed, so a database away at that moment must fail operations, not the plugin.
        await using var server = await AyTrack.Loopback.PostgresServer.StartAsync();
        var connectionString = await server.CreateDatabaseAsync("journal");
        await server.StopAsync();
        using var system = ActorSystem.Create("outage", ConfigurationFactory.ParseString(AyTrackJournal.Hocon("postgresql", connectionString)));

        var during = system.ActorOf(Props.Create(() => new Notes("domain-o")));
        using (var stopped = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            // Its recovery cannot read the journal: a persistent actor stops then (its parent starts it again later).
            Assert.True(await during.WatchAsync(stopped.Token));
        }

        await server.RestartAsync();
        Assert.Equal(["after"], (await WriteAsync(system, "domain-o", "after")).Notes);
        Assert.Equal(["after"], (await ReadAsync(system, "domain-o")).Notes);
        await system.Terminate();
    }
}
