using System.Net;
using AyTrack.Core.Configuration;

namespace AyTrack.Smtp.Delivery;

/// <summary>Where an outbound session comes from: the local address it binds and the name it greets with.</summary>
public sealed record EgressSource(string Name, IPAddress? BindAddress, string EhloName);

/// <summary>
/// AyTrack:Egress: the sources and their pools. A session takes a source from the pool its site's shaping names (or
/// the pool named "default"), each source as often as its weight says; without pools every session uses the node's
/// server name and lets the system choose the address.
/// </summary>
public sealed class EgressSources
{
    private readonly Dictionary<string, (IReadOnlyList<(EgressSource Source, int Weight)> Members, int TotalWeight)> _pools =
        new(StringComparer.OrdinalIgnoreCase);
    private readonly EgressSource _none;

    public EgressSources(EgressOptions options, string heloName)
    {
        _none = new EgressSource("default", null, heloName);
        var sources = options.Sources.ToDictionary(s => s.Name.Trim(), s => new EgressSource(s.Name.Trim(),
            string.IsNullOrWhiteSpace(s.BindAddress) ? null : IPAddress.Parse(s.BindAddress.Trim()),
            string.IsNullOrWhiteSpace(s.EhloName) ? heloName : s.EhloName.Trim()), StringComparer.OrdinalIgnoreCase);
        foreach (var pool in options.Pools)
        {
            var members = pool.Sources.Select(s => (sources[s.Name.Trim()], Math.Max(1, s.Weight))).ToList();
            _pools[pool.Name.Trim()] = (members, members.Sum(m => m.Item2));
        }
    }

    public static EgressSources None(string heloName) => new(new EgressOptions(), heloName);

    /// <summary>A source of <paramref name="pool"/> (weighted at random), of the "default" pool when none is named, else no binding.</summary>
    public EgressSource Choose(string? pool)
    {
        if (!_pools.TryGetValue(pool ?? "default", out var found) || found.Members.Count == 0)
        {
            return _none;
        }

        var (members, total) = found;
        var pick = Random.Shared.Next(total);
        foreach (var (source, weight) in members)
        {
            if (pick < weight)
            {
                return source;
            }

            pick -= weight;
        }

        return members[^1].Source;
    }
}
