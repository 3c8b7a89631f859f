using Microsoft.Data.Sqlite;

namespace AyTrack.Spool;

/// <summary>SQLite's own check of a database file, for the spool and the journal alike.</summary>
public static class SqliteIntegrity
{
    /// <summary>
    /// PRAGMA quick_check reads every page (not the slower index cross-checks of integrity_check). Null when the file is
    /// sound, else what SQLite found (at most 20 findings), prefixed with the file.
    /// </summary>
    public static async Task<string?> QuickCheckAsync(SqliteConnection connection, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA quick_check(20)";
        var findings = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            findings.Add(reader.GetString(0));
        }

        return findings is ["ok"] ? null : $"{connection.DataSource}: {string.Join("; ", findings)}";
    }
}
