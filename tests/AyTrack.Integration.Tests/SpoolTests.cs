using AyTrack.Core.Addresses;
using AyTrack.Loopback;
using AyTrack.Core.Spool;
using AyTrack.Spool;
using Npgsql;
using Xunit;

namespace AyTrack.Integration.Tests;

/// <summary>
/// What every spool promises, run against the embedded SQLite spool and the cluster's PostgreSQL spool: accepted
/// mail waits in the outbox until dispatched, stays listed as pending until final, and leaves (body included) when
/// all its recipients are final.
/// </summary>
public abstract class SpoolContract
{
    protected abstract Task<ISpool> OpenAsync(string node);

    [Fact]
    public async Task Accepted_mail_goes_from_outbox_to_pending_to_gone()
    {
        await using var spool = await OpenAsync("node-a:1");
        var id = QueueId.New();
        var body = "Subject: hi\r\n\r\nbody\r\n"u8.ToArray();
        await spool.AcceptAsync(new SpoolEnvelope(id, "app@sender.test",
            [EmailAddress.Parse("a@one.test"), EmailAddress.Parse("b@one.test"), EmailAddress.Parse("c@two.test")],
            DateTimeOffset.UtcNow, SmtpUtf8: false, "<hi@sender.test>"), body, CancellationToken.None);

        var outbox = await spool.ReadOutboxAsync(100, CancellationToken.None);
        Assert.Equal([("one.test", 2), ("two.test", 1)], outbox.Select(e => (e.Domain.Value, e.Recipients.Count)).OrderBy(x => x.Value));
        Assert.Equal(new SpoolCounts(1, 3, 3), await spool.CountAsync(CancellationToken.None));

        await spool.MarkDispatchedAsync(outbox, CancellationToken.None);
        Assert.Empty(await spool.ReadOutboxAsync(100, CancellationToken.None));
        Assert.Equal(["one.test", "two.test"], (await spool.PendingDomainsAsync(CancellationToken.None)).Select(d => d.Value).Order());

        var loaded = await spool.LoadAsync(id, CancellationToken.None);
        Assert.NotNull(loaded);
        Assert.Equal(body, loaded.Body);
        Assert.Equal("<hi@sender.test>", loaded.Envelope.MessageIdHeader);
        Assert.Equal(3, loaded.Envelope.Recipients.Count);

        await spool.MarkFinalAsync(id, ["a@one.test", "b@one.test"], CancellationToken.None);
        Assert.Equal(["two.test"], (await spool.PendingDomainsAsync(CancellationToken.None)).Select(d => d.Value));

        // A lost journal: what was handed to domain actors goes back to the outbox, counted (only c is not final).
        Assert.Equal(1, await spool.RequeueDispatchedAsync(CancellationToken.None));
        var requeued = Assert.Single(await spool.ReadOutboxAsync(100, CancellationToken.None));
        Assert.Equal(["c@two.test"], requeued.Recipients);
        await spool.MarkDispatchedAsync([requeued], CancellationToken.None);
        Assert.NotNull(await spool.LoadAsync(id, CancellationToken.None));

        await spool.MarkFinalAsync(id, ["c@two.test"], CancellationToken.None);
        Assert.Null(await spool.LoadAsync(id, CancellationToken.None));
        Assert.Equal(new SpoolCounts(0, 0, 0), await spool.CountAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Many_concurrent_accepts_are_all_durable_and_a_bad_one_fails_alone()
    {
        await using var spool = await OpenAsync("node-a:1");
        var good = Enumerable.Range(0, 300).Select(i => spool.AcceptAsync(new SpoolEnvelope(QueueId.New(), "app@sender.test",
            [EmailAddress.Parse($"user{i}@many.test")], DateTimeOffset.UtcNow, false, null), "Subject: x\r\n\r\nx\r\n"u8.ToArray(),
            CancellationToken.None)).ToList();
        var duplicateId = QueueId.New();
        var first = spool.AcceptAsync(new SpoolEnvelope(duplicateId, "app@sender.test", [EmailAddress.Parse("x@many.test")],
            DateTimeOffset.UtcNow, false, null), "x"u8.ToArray(), CancellationToken.None);
        var second = spool.AcceptAsync(new SpoolEnvelope(duplicateId, "app@sender.test", [EmailAddress.Parse("y@many.test")],
            DateTimeOffset.UtcNow, false, null), "y"u8.ToArray(), CancellationToken.None);

        await Task.WhenAll(good);
        await first;
        await Assert.ThrowsAnyAsync<Exception>(() => second);
        Assert.Equal(301, (await spool.CountAsync(CancellationToken.None)).Messages);
    }

    [Fact]
    public async Task A_message_over_the_inline_limit_is_stored_whole_even_when_its_commit_is_retried()
    {
        await using var spool = await OpenAsync("node-a:1");
        // Bodies over 1 MiB (the spools' inline limit) are streamed to the database rather than copied into one array.
        var piece = Enumerable.Range(0, 256 * 1024).Select(i => (byte)('a' + i % 26)).ToArray();
        var content = MessageContent.FromPieces(Enumerable.Repeat<ReadOnlyMemory<byte>>(piece, 12).ToList());
        Assert.True(content.Length > 1024 * 1024);

        // Queued together, the three usually share a commit, which the duplicate id fails; each write is then committed
        // alone, the large one reading its body a second time.
        var large = QueueId.New();
        var duplicate = QueueId.New();
        var writes = new[]
        {
            spool.AcceptAsync(new SpoolEnvelope(duplicate, "app@sender.test", [EmailAddress.Parse("x@big.test")], DateTimeOffset.UtcNow, false, null),
                "x"u8.ToArray(), CancellationToken.None),
            spool.AcceptAsync(new SpoolEnvelope(large, "app@sender.test", [EmailAddress.Parse("big@big.test")], DateTimeOffset.UtcNow, false, null),
                content, CancellationToken.None),
            spool.AcceptAsync(new SpoolEnvelope(duplicate, "app@sender.test", [EmailAddress.Parse("y@big.test")], DateTimeOffset.UtcNow, false, null),
                "y"u8.ToArray(), CancellationToken.None),
        };
        await Assert.ThrowsAnyAsync<Exception>(() => Task.WhenAll(writes));
        Assert.True(writes[1].IsCompletedSuccessfully);

        var loaded = await spool.LoadAsync(large, CancellationToken.None);
        Assert.Equal(content.Length, loaded!.Body.Length);
        Assert.True(Enumerable.Range(0, 12).All(i => loaded.Body.AsSpan(i * piece.Length, piece.Length).SequenceEqual(piece)));
    }

    [Fact]
    public async Task A_messages_dsn_request_comes_back_with_it()
    {
        await using var spool = await OpenAsync("node-a:1");
        var id = QueueId.New();
        var dsn = new AyTrack.Core.Dsn.DsnOptions(AyTrack.Core.Dsn.DsnReturn.Full, "order+17", new Dictionary<string, AyTrack.Core.Dsn.DsnRecipient>
        {
            ["a@one.test"] = new(AyTrack.Core.Dsn.DsnNotify.Success | AyTrack.Core.Dsn.DsnNotify.Failure, "rfc822", "a@old.test"),
        });
        await spool.AcceptAsync(new SpoolEnvelope(id, "app@sender.test", [EmailAddress.Parse("a@one.test"), EmailAddress.Parse("b@one.test")],
            DateTimeOffset.UtcNow, false, null) { Dsn = dsn }, "Subject: x\r\n\r\nx\r\n"u8.ToArray(), CancellationToken.None);

        var loaded = (await spool.LoadAsync(id, CancellationToken.None))!.Envelope.Dsn!;
        Assert.Equal((dsn.Return, dsn.EnvelopeId), (loaded.Return, loaded.EnvelopeId));
        Assert.Equal(dsn.Recipients["a@one.test"], loaded.Recipients["a@one.test"]);
        Assert.False(loaded.Wants("b@one.test", AyTrack.Core.Dsn.DsnNotify.Success));
    }
}

public sealed class SqliteSpoolTests : SpoolContract, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("aytrack-spool").FullName;

    protected override async Task<ISpool> OpenAsync(string node) => await SqliteSpool.OpenAsync(Path.Combine(_dir, "spool.db"));

    [Fact]
    public async Task A_spool_from_before_the_dsn_column_gets_it_and_keeps_its_mail()
    {
        var path = Path.Combine(_dir, "spool.db");
        await using (var old = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={path}"))
        {
            await old.OpenAsync();
            await using var create = old.CreateCommand();
            create.CommandText = """
                CREATE TABLE messages(id TEXT PRIMARY KEY, sender TEXT NOT NULL, received_at INTEGER NOT NULL, smtputf8 INTEGER NOT NULL,
                    message_id TEXT, size INTEGER NOT NULL, body BLOB NOT NULL);
                INSERT INTO messages VALUES ('old1', 'app@sender.test', 0, 0, NULL, 3, x'414243');
                """;
            await create.ExecuteNonQueryAsync();
        }

        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        await using var spool = await SqliteSpool.OpenAsync(path);
        var old1 = await spool.LoadAsync(new QueueId("old1"), CancellationToken.None);
        Assert.Equal("ABC"u8.ToArray(), old1!.Body);
        Assert.Null(old1.Envelope.Dsn);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}

/// <summary>One PostgreSQL server for the spool tests; each test gets its own database.</summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    public PostgresServer Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await PostgresServer.StartAsync();

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

public sealed class PostgresSpoolTests(PostgresFixture postgres) : SpoolContract, IClassFixture<PostgresFixture>
{
    private string? _database;

    protected override async Task<ISpool> OpenAsync(string node)
    {
        _database ??= await postgres.Server.CreateDatabaseAsync("spool_" + Guid.NewGuid().ToString("N"));
        return await PostgresSpool.OpenAsync(_database, node);
    }

    [Fact]
    public async Task A_node_reads_only_its_own_outbox_until_another_nodes_claim_is_older_than_the_lease()
    {
        await using var a = await OpenAsync("node-a:1");
        await using var b = await OpenAsync("node-b:1");
        var id = QueueId.New();
        await a.AcceptAsync(new SpoolEnvelope(id, "", [EmailAddress.Parse("u@orphan.test")], DateTimeOffset.UtcNow, false, null),
            "x"u8.ToArray(), CancellationToken.None);

        Assert.Empty(await b.ReadOutboxAsync(100, CancellationToken.None));
        Assert.Single(await a.ReadOutboxAsync(100, CancellationToken.None));

        // Node a dies before dispatching: its claim ages past the lease and node b takes the mail over.
        await using (var connection = new NpgsqlConnection(_database))
        {
            await connection.OpenAsync();
            await using var age = new NpgsqlCommand("UPDATE aytrack_spool_recipients SET claimed_at = now() - @age", connection);
            age.Parameters.AddWithValue("age", PostgresSpool.OrphanLease + TimeSpan.FromSeconds(1));
            await age.ExecuteNonQueryAsync();
        }

        var taken = Assert.Single(await b.ReadOutboxAsync(100, CancellationToken.None));
        Assert.Equal(id, taken.Id);
        Assert.Empty(await a.ReadOutboxAsync(100, CancellationToken.None));
    }

    [Fact]
    public async Task A_survivor_takes_over_the_outbox_of_a_removed_node_at_once()
    {
        await using var a = await OpenAsync("127.0.0.1:4001");
        await using var b = await OpenAsync("127.0.0.1:4002");
        await a.AcceptAsync(new SpoolEnvelope(QueueId.New(), "", [EmailAddress.Parse("u@one.test"), EmailAddress.Parse("v@one.test")],
            DateTimeOffset.UtcNow, false, null), "x"u8.ToArray(), CancellationToken.None);

        Assert.Equal(0, await b.TakeOverClaimsAsync("127.0.0.1:4003", CancellationToken.None));
        Assert.Equal(2, await b.TakeOverClaimsAsync("127.0.0.1:4001", CancellationToken.None));
        Assert.Equal(2, Assert.Single(await b.ReadOutboxAsync(100, CancellationToken.None)).Recipients.Count);
        Assert.Empty(await a.ReadOutboxAsync(100, CancellationToken.None));
    }

    [Fact]
    public async Task Two_nodes_finishing_the_last_recipients_of_one_message_at_once_remove_it()
    {
        await using var a = await OpenAsync("node-a:1");
        await using var b = await OpenAsync("node-b:1");
        var ids = Enumerable.Range(0, 50).Select(_ => QueueId.New()).ToList();
        foreach (var id in ids)
        {
            await a.AcceptAsync(new SpoolEnvelope(id, "", [EmailAddress.Parse("u@one.test"), EmailAddress.Parse("u@two.test")],
                DateTimeOffset.UtcNow, false, null), "x"u8.ToArray(), CancellationToken.None);
        }

        await Task.WhenAll(ids.SelectMany(id => new[]
        {
            a.MarkFinalAsync(id, ["u@one.test"], CancellationToken.None),
            b.MarkFinalAsync(id, ["u@two.test"], CancellationToken.None),
        }));

        Assert.Equal(new SpoolCounts(0, 0, 0), await a.CountAsync(CancellationToken.None));
    }
}

public sealed class PostgresDataSourceTests
{
    [Theory]
    [InlineData("Host=127.0.0.1;Database=mail", 32)]
    [InlineData("Host=127.0.0.1;Database=mail;Max Auto Prepare=0", 0)]
    [InlineData("Host=127.0.0.1;Database=mail;maxautoprepare=5", 5)]
    public void Statements_are_auto_prepared_unless_the_connection_string_says_otherwise(string connectionString, int expected)
    {
        using var dataSource = PostgresDataSource.Create(connectionString);
        Assert.Equal(expected, new NpgsqlConnectionStringBuilder(dataSource.ConnectionString).MaxAutoPrepare);
    }
}
