using System.Data.Common;
using AyTrack.Core.Addresses;

namespace AyTrack.Smtp.Spool;

/// <summary>Reading what both spools answer the same way, whatever their SQL dialect.</summary>
internal static class SpoolQueries
{
    /// <summary>The domains a one-column query returns.</summary>
    public static async Task<IReadOnlyList<RecipientDomain>> ReadDomainsAsync(DbCommand command, CancellationToken cancellationToken)
    {
        var domains = new List<RecipientDomain>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            domains.Add(new RecipientDomain(reader.GetString(0)));
        }

        return domains;
    }
}
