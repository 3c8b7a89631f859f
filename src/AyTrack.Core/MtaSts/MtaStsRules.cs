namespace AyTrack.Core.MtaSts;

/// <summary>When a policy is fetched and which one is in force (RFC 8461 §5.1), without I/O.</summary>
public static class MtaStsRules
{
    /// <summary>
    /// A fetch is due when the domain publishes an id and the cache holds no unexpired policy with that id. Without a
    /// record (or when its lookup fails) nothing is fetched: a cached policy stays in force until it expires, so an
    /// attacker who removes the TXT record cannot switch a domain's protection off.
    /// </summary>
    public static bool NeedsFetch(string? publishedId, MtaStsPolicy? cached, DateTimeOffset now) =>
        publishedId is not null && (cached is null || cached.Id != publishedId || cached.IsExpired(now));

    /// <summary>
    /// The policy to apply: the one just fetched (a "none" policy means none, and is dropped from the cache), else
    /// the cached one while unexpired, else none. A failed fetch therefore leaves the previous policy in force.
    /// </summary>
    public static MtaStsPolicy? InForce(MtaStsPolicy? cached, MtaStsPolicy? fetched, DateTimeOffset now)
    {
        if (fetched is not null)
        {
            return fetched.Mode == MtaStsMode.None ? null : fetched;
        }

        return cached is not null && !cached.IsExpired(now) && cached.Mode != MtaStsMode.None ? cached : null;
    }
}
