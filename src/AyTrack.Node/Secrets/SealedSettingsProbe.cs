using AyTrack.Node.Storage;

namespace AyTrack.Node.Secrets;

/// <summary>
/// Whether the journal already holds a sealed secret (the relay password in the settings, or a DKIM private key),
/// asked before a node makes a secrets key: then the key is missing, not new, and the node must not start with another
/// one. Reads the config actor's and the DKIM key actor's events (persistence ids <c>aytrack-settings</c>,
/// <c>aytrack-dkim</c>) as Akka.Persistence.Sql stores them.
/// </summary>
public static class SealedSettingsProbe
{
    // The AyTrack serializer writes events as JSON; an unsealed password is "SealedPassword":null.
    private const string SealedMarker = "%\"SealedPassword\":\"%";

    /// <summary>Where sealed settings are (for the refusal's message), or null when there are none.</summary>
    public static async Task<string?> FindAsync(JournalDatabase journal, CancellationToken cancellationToken)
    {
        await using var connection = await journal.OpenAsync(cancellationToken);
        if (connection is null || !await journal.HasTablesAsync(connection, cancellationToken, "journal"))
        {
            return null;
        }

        return await journal.AnyAsync(connection, "journal", "((persistence_id = 'aytrack-settings' AND {text} LIKE @marker) OR persistence_id = 'aytrack-dkim')", SealedMarker, cancellationToken)
            ? journal.Describe()
            : null;
    }
}
