using System.Data.Common;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace AyTrack.Node.Storage;

/// <summary>
/// The journal's database as the node itself reads it, beside the journal (AyTrackJournal): the SQLite file of one node
/// or the PostgreSQL database of a cluster, with the few differences between them in one place. Used to find sealed settings
/// before a secrets key is made, to tell whether domain queues must be rebuilt from the spool, and by the storage
/// probe and integrity check.
/// </summary>
public sealed class JournalDatabase
{
    private readonly string? _sqlite;
    private readonly string _postgres;

    private JournalDatabase(string? sqlite, string postgres)
    {
        _sqlite = sqlite;
        _postgres = postgres;
    }

    public static JournalDatabase Sqlite(string connectionString) => new(connectionString, string.Empty);

    public static JournalDatabase Postgres(string connectionString) => new(null, connectionString);

    public bool IsSqlite => _sqlite is not null;

    /// <summary>Where the journal is, for messages an operator reads.</summary>
    public string Describe() => _sqlite is not null
        ? new SqliteConnectionStringBuilder(_sqlite).DataSource
        : "the PostgreSQL journal (AyTrack:Persistence:ConnectionString)";

    /// <summary>An open connection, or null when the SQLite file does not exist yet (a first start).</summary>
    public async Task<DbConnection?> OpenAsync(CancellationToken cancellationToken)
    {
        DbConnection connection;
        if (_sqlite is not null)
        {
            if (!File.Exists(new SqliteConnectionStringBuilder(_sqlite).DataSource))
            {
                return null;
            }

            connection = new SqliteConnection(_sqlite);
        }
        else
        {
            connection = new NpgsqlConnection(_postgres);
        }

        await connection.OpenAsync(cancellationToken);
        return connection;
    }

    /// <summary>Whether every one of these tables exists (the journal creates them when it first opens the database).</summary>
    public async Task<bool> HasTablesAsync(DbConnection connection, CancellationToken cancellationToken, params string[] tables)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = _sqlite is not null
            ? $"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ({string.Join(", ", tables.Select(t => $"'{t}'"))})"
            : $"SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename IN ({string.Join(", ", tables.Select(t => $"'{t}'"))})";
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken)) == tables.Length;
    }

    /// <summary>
    /// Whether a row of a journal table matches <paramref name="condition"/>, in which <c>@marker</c> is
    /// <paramref name="marker"/> and <c>{text}</c> the row's payload as text.
    /// </summary>
    public async Task<bool> AnyAsync(DbConnection connection, string table, string condition, string marker, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        var column = table == "snapshot" ? "snapshot" : "message";
        var text = _sqlite is not null ? $"CAST({column} AS TEXT)" : $"convert_from({column}, 'UTF8')";
        command.CommandText = $"SELECT EXISTS (SELECT 1 FROM {table} WHERE {condition.Replace("{text}", text)})";
        var parameter = command.CreateParameter();
        parameter.ParameterName = "@marker";
        parameter.Value = marker;
        command.Parameters.Add(parameter);
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken)) > 0;
    }
}
