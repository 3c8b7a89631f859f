using AyTrack.Core.Configuration;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace AyTrack.Node.Secrets;

/// <summary>
/// Whether the journal already holds settings with a sealed secret (the relay password), asked before a node makes a
/// secrets key: then the key is missing, not new, and the node must not start with another one. Reads the config
/// actor's own events (persistence id <c>aytrack-settings</c>) as Akka.Persistence.Sql stores them.
/// </summary>
public static class SealedSettingsProbe
{
    // The AyTrack serializer writes events as JSON; an unsealed password is "SealedPassword":null.
    private const string SealedMarker = "%\"SealedPassword\":\"%";

    /// <summary>Where sealed settings are (for the refusal's message), or null when there are none.</summary>
    public static string? Find(PersistenceOptions persistence, string journalConnectionString)
    {
        if (persistence.Provider.Trim().Equals("postgresql", StringComparison.OrdinalIgnoreCase))
        {
            using var connection = new NpgsqlConnection(persistence.ConnectionString);
            connection.Open();
            using var command = connection.CreateCommand();
            // A first start has no journal table yet (the query below would not even plan without it).
            command.CommandText = "SELECT to_regclass('public.journal') IS NOT NULL";
            if (command.ExecuteScalar() is not true)
            {
                return null;
            }

            command.CommandText = "SELECT EXISTS (SELECT 1 FROM public.journal " +
                                  "WHERE persistence_id = 'aytrack-settings' AND convert_from(message, 'UTF8') LIKE @marker)";
            command.Parameters.AddWithValue("marker", SealedMarker);
            return command.ExecuteScalar() is true ? "the PostgreSQL journal (AyTrack:Persistence:ConnectionString)" : null;
        }

        var file = new SqliteConnectionStringBuilder(journalConnectionString).DataSource;
        if (!File.Exists(file))
        {
            return null;
        }

        using (var sqlite = new SqliteConnection(new SqliteConnectionStringBuilder(journalConnectionString) { Mode = SqliteOpenMode.ReadOnly }.ToString()))
        {
            sqlite.Open();
            using var command = sqlite.CreateCommand();
            command.CommandText = "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'journal')";
            if (Convert.ToInt64(command.ExecuteScalar()) == 0)
            {
                return null;
            }

            command.CommandText = "SELECT EXISTS (SELECT 1 FROM journal WHERE persistence_id = 'aytrack-settings' AND CAST(message AS TEXT) LIKE $marker)";
            command.Parameters.AddWithValue("$marker", SealedMarker);
            return Convert.ToInt64(command.ExecuteScalar()) == 1 ? file : null;
        }
    }
}
