using AyTrack.Contracts;
using AyTrack.Core.Configuration;
using AyTrack.Core.Spool;
using AyTrack.Node.Storage;
using AyTrack.Spool;
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
public sealed class StorageMonitor(ISpool spool, JournalDatabase journal, StorageHealth health, AyTrackOptions options, NodeInfo info,
    ILogger<StorageMonitor> logger)
    : BackgroundService
{
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

            await using var connection = journal.IsSqlite ? await journal.OpenAsync(cancellationToken) : null;
            if (connection is SqliteConnection sqlite && await SqliteIntegrity.QuickCheckAsync(sqlite, cancellationToken) is { } journalDamage)
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
        // Reading the catalogue proves the database is there and readable (the journal's tables may not be there yet).
        await using var connection = await journal.OpenAsync(cancellationToken)
                                     ?? throw new FileNotFoundException($"{journal.Describe()} does not exist");
        await journal.HasTablesAsync(connection, cancellationToken, "journal");
    }
}
