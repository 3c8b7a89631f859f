using Npgsql;

namespace AyTrack.Spool;

/// <summary>How the node connects to PostgreSQL, for the spool and the journal alike.</summary>
public static class PostgresDataSource
{
    /// <summary>
    /// A data source for the operator's connection string. The same few statements run thousands of times a second, so
    /// Npgsql prepares them after their first uses (server-side, per connection) unless the connection string says
    /// otherwise (<c>Max Auto Prepare</c>).
    /// </summary>
    public static NpgsqlDataSource Create(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        // The keywords as the operator wrote them (Npgsql's builder reports every known one as present).
        var given = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = connectionString };
        if (!given.Keys.Cast<string>().Any(k => k.Replace(" ", "", StringComparison.Ordinal).Equals("MaxAutoPrepare", StringComparison.OrdinalIgnoreCase)))
        {
            builder.MaxAutoPrepare = 32;
        }

        return NpgsqlDataSource.Create(builder.ConnectionString);
    }
}
