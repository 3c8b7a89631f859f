namespace AyTrack.Core.Delivery;

/// <summary>One MX record as DNS returned it.</summary>
public sealed record MxRecord(int Preference, string Exchange);

/// <summary>What the MX lookup of a recipient domain says about where to deliver.</summary>
public abstract record MxRoute
{
    private MxRoute() { }

    /// <summary>Hosts to try in order (RFC 5321 §5.1).</summary>
    public sealed record Hosts(IReadOnlyList<string> Names, bool Implicit) : MxRoute;

    /// <summary>RFC 7505: the domain declares that it accepts no mail.</summary>
    public sealed record NullMx : MxRoute;
}

/// <summary>
/// RFC 5321 §5.1 host selection: MX records by ascending preference, equal preferences in random order (to spread
/// load, as the RFC asks), the domain itself as implicit MX when it has none, and RFC 7505 null MX.
/// </summary>
public static class MxOrdering
{
    public static MxRoute Order(string domain, IReadOnlyList<MxRecord> records, Random random)
    {
        if (records.Count == 0)
        {
            // §5.1: no MX records → the domain is treated as an implicit MX of preference 0.
            return new MxRoute.Hosts([domain], Implicit: true);
        }

        // RFC 7505 §3: a null MX is a single record with preference 0 and exchange ".". A domain that publishes other
        // MX records beside it is misconfigured; the usable records then win and the "." entry is skipped.
        var usable = records.Where(r => !IsRoot(r.Exchange)).ToList();
        if (usable.Count == 0)
        {
            return new MxRoute.NullMx();
        }

        var ordered = usable
            .Select(r => (r.Preference, Name: r.Exchange.TrimEnd('.').ToLowerInvariant(), Tiebreak: random.Next()))
            .OrderBy(r => r.Preference)
            .ThenBy(r => r.Tiebreak)
            .Select(r => r.Name)
            .Distinct(StringComparer.Ordinal)
            .ToList();

        return new MxRoute.Hosts(ordered, Implicit: false);
    }

    private static bool IsRoot(string exchange) => exchange is "." or "";
}
