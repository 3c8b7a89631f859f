using AyTrack.Core.Dkim;

namespace AyTrack.Actors.Dkim;

/// <summary>
/// Messages of the DKIM key actor, a cluster singleton. Private keys cross the cluster only sealed with the shared
/// secrets key (<see cref="DkimKeyEntry.SealedPrivateKey"/>): the node that generates a key seals it at once.
/// </summary>
public static class DkimCommands
{
    public sealed record GetKeys;

    /// <summary>A new key, generated and sealed where the request arrived. Starts active unless the domain already signs.</summary>
    public sealed record AddKey(string Domain, string Selector, DkimAlgorithm Algorithm, string PublicKey, string SealedPrivateKey, string By);

    public sealed record ActivateKey(string Domain, string Selector, string By);

    public sealed record RemoveKey(string Domain, string Selector, string By);
}

public static class DkimReplies
{
    public sealed record Keys(long Version, IReadOnlyList<DkimKeyEntry> Entries);

    /// <summary>The request named a field that is wrong (<see cref="Field"/> as in the API's JSON).</summary>
    public sealed record Rejected(string Field, string Problem);

    public sealed record NotFound(string Domain, string Selector);
}

/// <summary>Published to every node (distributed pub-sub topic <see cref="Topic"/>) after each change.</summary>
public sealed record DkimKeysPublished(long Version, IReadOnlyList<DkimKeyEntry> Entries)
{
    public const string Topic = "aytrack.dkim";
}

public static class DkimEvents
{
    public sealed record KeyAdded(DkimKeyEntry Key, string By);

    public sealed record KeyActivated(string Domain, string Selector, string By, DateTimeOffset At);

    public sealed record KeyRemoved(string Domain, string Selector, string By, DateTimeOffset At);
}
