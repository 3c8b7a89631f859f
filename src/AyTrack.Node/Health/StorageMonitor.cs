using AyTrack.Contracts;
using AyTrack.Core.Configuration;
using AyTrack.Core.Spool;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace AyTrack.Node.Health;

/// <summary>
/// Keeps an eye on the node's storage so that damage is never silent: an integrity check of the spool and the journal
/// in the background right after start (never delaying readiness on a large spool), then a probe every
/// AyTrack:Storage:ProbeInterval that writes and reads the spool and reads the journal. What it finds goes to the health
/// report (<c>storage-damaged</c>, <c>spool-unwritable</c>, <c>journal-unreachable</c>) and the log; a probe that
/// works again clears its reason.
/// </summary>
public sealed class StorageMonitor(ISpool spool, StorageHealth health, AyTrackOptions options, NodeInfo info, ILogger<StorageMonitor> logger)
    : BackgroundService
{
    /// <summary>The SQLite journal's connection string (null with PostgreSQL, whose connection string is in the options).</summary>
    public string? SqliteJournal { get; init; }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Yield();
        await CheckIntegrityAsync(stoppingToken);
        using var timer = new PeriodicTimer(options.Storage.ProbeInterval);
        do
        {
            await ProbeAsync(stoppingToken);
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    private async Task CheckIntegrityAsync(CancellationToken cancellationToken)
    {
        var findings = new List<string>();
        try
        {
            if (await spool.CheckIntegrityAsync(cancellationToken) is { } spoolDamage)
            {
                findings.Add(spoolDamage);
            }

            if (SqliteJournal is not null && await QuickCheckAsync(SqliteJournal, cancellationToken) is { } journalDamage)
            {
                findings.Add(journalDamage);
            }
        }
        catch (Exception e) when (e is SqliteException or NpgsqlException or IOException or InvalidOperationException)
        {
            findings.Add(e.Message);
        }

        if (findings.Count == 0)
        {
            logger.LogInformation("Storage integrity check: no damage found");
            return;
        }

        var detail = string.Join("; ", findings);
        health.Set(HealthCodes.StorageDamaged, detail);
        logger.LogError("Storage integrity check found damage: {Detail}. Mail is neither dropped nor bounced for it; a message whose " +
                        "content cannot be read stays queued. To recover: stop the node, copy {DataDir} aside, and follow " +
                        "docs/security.md (\"Damaged storage\")", detail, info.DataDir);
    }

    private async Task ProbeAsync(CancellationToken cancellationToken)
    {
        try
        {
            await spool.ProbeAsync(cancellationToken);
            health.Clear(HealthCodes.SpoolUnwritable);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            if (!health.Problems.Any(p => p.Code == HealthCodes.SpoolUnwritable))
            {
                logger.LogError("The spool cannot be written or read: {Error}; new mail gets 4xx until it can", e.Message);
            }

            health.Set(HealthCodes.SpoolUnwritable, $"spool: {e.Message}");
        }

        try
        {
            await ReadJournalAsync(cancellationToken);
            health.Clear(HealthCodes.JournalUnreachable);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            if (!health.Problems.Any(p => p.Code == HealthCodes.JournalUnreachable))
            {
                logger.LogError("The journal cannot be read: {Error}; delivery waits until it can", e.Message);
            }

            health.Set(HealthCodes.JournalUnreachable, $"journal: {e.Message}");
        }
    }

    private async Task ReadJournalAsync(CancellationToken cancellationToken)
    {
        if (SqliteJournal is not null)
        {
            await using var sqlite = new SqliteConnection(SqliteJournal);
            await sqlite.OpenAsync(cancellationToken);
            await using var command = sqlite.CreateCommand();
            // Reads the schema page: the file is there and readable (the journal's tables appear at its first write).
            command.CommandText = "SELECT count(*) FROM sqlite_master";
            await command.ExecuteScalarAsync(cancellationToken);
            return;
        }

        await using var connection = new NpgsqlConnection(options.Persistence.ConnectionString);
        await connection.OpenAsync(cancellationToken);
        await using var read = new NpgsqlCommand("SELECT 1", connection);
        await read.ExecuteScalarAsync(cancellationToken);
    }

    private static async Task<string?> QuickCheckAsync(string connectionString, CancellationToken cancellationToken)
    {
        await using var connection = new SqliteConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA quick_check(20)";
        var findings = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            findings.Add(reader.GetString(0));
        }

        return findings is ["ok"] ? null : $"{new SqliteConnectionStringBuilder(connectionString).DataSource}: {string.Join("; ", findings)}";
    }
}
