using AyTrack.Core.Settings;

namespace AyTrack.Core.Dkim;

/// <summary>
/// The DKIM keys this node signs with. The node's DKIM agent replaces them when the key actor publishes a change; the
/// listener and the injection API read them for every message. Private keys are opened once per version, here.
/// </summary>
public sealed class LiveDkimKeys(SecretBox secrets)
{
    private volatile Snapshot _current = new(-1, DkimKeyring.Empty, new Dictionary<string, DkimSigningKey>());

    public long Version => _current.Version;

    public DkimKeyring Ring => _current.Ring;

    /// <summary>Takes a newer version; an older or equal one (a late or repeated publication) is ignored.</summary>
    public bool Update(long version, IReadOnlyList<DkimKeyEntry> entries)
    {
        var current = _current;
        if (version <= current.Version)
        {
            return false;
        }

        // Keys whose private part cannot be opened (another cluster's secrets key) never sign: the agent logs them.
        var opened = new Dictionary<string, DkimSigningKey>(StringComparer.Ordinal);
        foreach (var entry in entries.Where(e => e.Active))
        {
            opened[entry.DnsName] = current.Opened.TryGetValue(entry.DnsName, out var known) && known.Entry.SealedPrivateKey == entry.SealedPrivateKey
                ? known with { Entry = entry }
                : new DkimSigningKey(entry, DkimKeyMaterial.ReadPrivateKey(secrets.Open(entry.SealedPrivateKey).Reveal()));
        }

        _current = new Snapshot(version, new DkimKeyring(entries), opened);
        return true;
    }

    /// <summary>The opened keys that sign mail from <paramref name="fromDomain"/>; empty when none does.</summary>
    public IReadOnlyList<DkimSigningKey> SigningKeysFor(string fromDomain)
    {
        var current = _current;
        return current.Ring.SigningKeysFor(fromDomain).Select(k => current.Opened[k.DnsName]).ToList();
    }

    private sealed record Snapshot(long Version, DkimKeyring Ring, IReadOnlyDictionary<string, DkimSigningKey> Opened);
}
