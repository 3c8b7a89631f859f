using AyTrack.Core.Configuration;
using AyTrack.Core.Spool;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace AyTrack.Node.Health;

/// <summary>
/// At start: when the journal holds no domain's delivery state at all (lost, emptied, or replaced by a new file) while
/// the spool holds recipients that were handed to domain actors and are not final, those recipients go back into the
/// outbox and are handed over again. The spool is the record of what was accepted; without this, mail the journal
/// forgot would sit in the spool, counted nowhere and never delivered.
/// </summary>
public sealed class JournalRecovery(ISpool spool, AyTrackOptions options, ILogger<JournalRecovery> logger) : IHostedService
{
    /// <summary>The SQLite journal's connection string (null with PostgreSQL).</summary>
    public string? SqliteJournal { get; init; }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (await HoldsDeliveryStateAsync(cancellationToken))
        {
            return;
        }

        var requeued = await spool.RequeueDispatchedAsync(cancellationToken);
        if (requeued > 0)
        {
            logger.LogWarning("The journal holds no delivery state, but the spool has {Count} accepted recipient(s) that were handed to their " +
                              "domains: rebuilding those queues from the spool (each recipient is handed over again)", requeued);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Whether any domain actor's events or snapshots are in the journal (a missing table counts as none).</summary>
    private async Task<bool> HoldsDeliveryStateAsync(CancellationToken cancellationToken)
    {
        const string query = "SELECT EXISTS (SELECT 1 FROM journal WHERE persistence_id LIKE 'domain-%') " +
                             "OR EXISTS (SELECT 1 FROM snapshot WHERE persistence_id LIKE 'domain-%')";
        if (SqliteJournal is not null)
        {
            if (!File.Exists(new SqliteConnectionStringBuilder(SqliteJournal).DataSource))
            {
                return false;
            }

            await using var sqlite = new SqliteConnection(SqliteJournal);
            await sqlite.OpenAsync(cancellationToken);
            await using var command = sqlite.CreateCommand();
            command.CommandText = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('journal', 'snapshot')";
            if (Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken)) < 2)
            {
                return false;
            }

            command.CommandText = query;
            return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken)) == 1;
        }

        await using var connection = new NpgsqlConnection(options.Persistence.ConnectionString);
        await connection.OpenAsync(cancellationToken);
        await using var tables = new NpgsqlCommand(
            "SELECT to_regclass('public.journal') IS NOT NULL AND to_regclass('public.snapshot') IS NOT NULL", connection);
        if (await tables.ExecuteScalarAsync(cancellationToken) is not true)
        {
            return false;
        }

        await using var read = new NpgsqlCommand(query, connection);
        return await read.ExecuteScalarAsync(cancellationToken) is true;
    }
}
