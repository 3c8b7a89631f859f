using Npgsql;

namespace AyTrack.Loopback;

/// <summary>
/// A throwaway PostgreSQL server on loopback: its own data directory and port, trust authentication on 127.0.0.1
/// only, stopped and deleted on dispose. PostgreSQL refuses to run as root, so when this process is root the
/// server runs as the <c>postgres</c> user (through runuser) on a directory handed to that user.
/// </summary>
public sealed class PostgresServer : IAsyncDisposable
{
    private const string User = "aytrack";

    private readonly string _bin;
    private readonly string _dataDir;
    private readonly string _root;

    private PostgresServer(string bin, string root, int port)
    {
        _bin = bin;
        _root = root;
        _dataDir = Path.Combine(root, "pgdata");
        Port = port;
    }

    public int Port { get; }

    /// <summary>A connection string for a database of this server.</summary>
    public string ConnectionString(string database) => new NpgsqlConnectionStringBuilder
    {
        Host = "127.0.0.1",
        Port = Port,
        Username = User,
        Database = database,
        Pooling = true,
        MaxPoolSize = 20,
    }.ToString();

    /// <summary>Where the server binaries are, or null when PostgreSQL is not installed.</summary>
    public static string? FindBinaries()
    {
        var roots = Directory.Exists("/usr/lib/postgresql") ? Directory.GetDirectories("/usr/lib/postgresql") : [];
        return roots
            .Select(r => Path.Combine(r, "bin"))
            .Where(b => File.Exists(Path.Combine(b, "pg_ctl")))
            .OrderByDescending(b => int.TryParse(Path.GetFileName(Path.GetDirectoryName(b)), out var v) ? v : 0)
            .FirstOrDefault();
    }

    public static async Task<PostgresServer> StartAsync(CancellationToken cancellationToken = default)
    {
        var bin = FindBinaries() ?? throw new InvalidOperationException(
            "PostgreSQL is not installed (looked for /usr/lib/postgresql/*/bin/pg_ctl); `apt-get install postgresql` (see .ci/run)");
        var root = Directory.CreateTempSubdirectory("aytrack-pg").FullName;
        Exception? last = null;
        for (var attempt = 0; attempt < 3; attempt++)
        {
            var server = new PostgresServer(bin, root, LocalSystem.FreePort());
            try
            {
                await server.InitializeAsync(cancellationToken);
                return server;
            }
            catch (Exception error) when (attempt < 2)
            {
                // The port was free when chosen and may have been taken since; choose again.
                last = error;
                await server.StopAsync();
                Directory.Delete(server._dataDir, recursive: true);
            }
        }

        throw new InvalidOperationException("PostgreSQL did not start", last);
    }

    /// <summary>Creates an empty database and returns its connection string.</summary>
    public async Task<string> CreateDatabaseAsync(string name)
    {
        await using var connection = new NpgsqlConnection(ConnectionString("postgres"));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
        await command.ExecuteNonQueryAsync();
        return ConnectionString(name);
    }

    public Task RestartAsync(CancellationToken cancellationToken = default) => InitializeAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temporary directory is not worth failing a test run for.
        }
    }

    private async Task InitializeAsync(CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(_dataDir);
        if (IsRoot)
        {
            await RunAsync("chown", ["-R", "postgres:postgres", _root], asPostgres: false, cancellationToken);
        }

        if (!File.Exists(Path.Combine(_dataDir, "PG_VERSION")))
        {
            await RunAsync(Path.Combine(_bin, "initdb"), ["-D", _dataDir, "-U", User, "--auth=trust", "-E", "UTF8", "--no-instructions"],
                asPostgres: true, cancellationToken);
        }

        // Loopback only, sockets in our own directory (not /var/run/postgresql, which may not exist), fsync on
        // (the default) so a commit here means what it means in production.
        await RunAsync(Path.Combine(_bin, "pg_ctl"),
        [
            "-D", _dataDir, "-l", Path.Combine(_root, "postgres.log"), "-w", "-t", "60",
            "-o", $"-p {Port} -k {_root} -c listen_addresses=127.0.0.1 -c max_connections=200", "start",
        ], asPostgres: true, cancellationToken);
    }

    /// <summary>Stops the server as a crash would (immediate mode); <see cref="RestartAsync"/> brings it back on the same port.</summary>
    public async Task StopAsync()
    {
        if (File.Exists(Path.Combine(_dataDir, "postmaster.pid")))
        {
            await RunAsync(Path.Combine(_bin, "pg_ctl"), ["-D", _dataDir, "-m", "immediate", "-w", "stop"], asPostgres: true,
                CancellationToken.None, throwOnFailure: false);
        }
    }

    private static bool IsRoot => Environment.UserName == "root";

    /// <summary>Runs a PostgreSQL tool, as the postgres user when this process is root (the server refuses root).</summary>
    private static Task RunAsync(string file, IReadOnlyList<string> arguments, bool asPostgres, CancellationToken cancellationToken,
        bool throwOnFailure = true) => asPostgres && IsRoot
        ? LocalSystem.RunAsync("runuser", ["-u", "postgres", "--", file, .. arguments], throwOnFailure, cancellationToken)
        : LocalSystem.RunAsync(file, arguments, throwOnFailure, cancellationToken);
}
