using AyTrack.Core.Spool;
using AyTrack.Node.Storage;

namespace AyTrack.Node.Health;

/// <summary>
/// At start: when the journal holds no domain's delivery state at all (lost, emptied, or replaced by a new file) while
/// the spool holds recipients that were handed to domain actors and are not final, those recipients go back into the
/// outbox and are handed over again. The spool is the record of what was accepted; without this, mail the journal
/// forgot would sit in the spool, counted nowhere and never delivered.
/// </summary>
public sealed class JournalRecovery(ISpool spool, JournalDatabase journal, ILogger<JournalRecovery> logger) : IHostedService
{
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

    /// <summary>Whether any domain actor's events or snapshots are in the journal (missing tables count as none).</summary>
    private async Task<bool> HoldsDeliveryStateAsync(CancellationToken cancellationToken)
    {
        await using var connection = await journal.OpenAsync(cancellationToken);
        if (connection is null || !await journal.HasTablesAsync(connection, cancellationToken, "journal", "snapshot"))
        {
            return false;
        }

        return await journal.AnyAsync(connection, "journal", "persistence_id LIKE @marker", "domain-%", cancellationToken) ||
               await journal.AnyAsync(connection, "snapshot", "persistence_id LIKE @marker", "domain-%", cancellationToken);
    }
}
