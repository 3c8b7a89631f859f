using System.Net;

namespace AyTrack.Core.Addresses;

/// <summary>A set of CIDR ranges, used both for who may relay to us and for where we may connect.</summary>
public sealed class NetworkList
{
    private readonly IReadOnlyList<IPNetwork> _networks;

    private NetworkList(IReadOnlyList<IPNetwork> networks, bool matchesAll)
    {
        _networks = networks;
        MatchesAll = matchesAll;
    }

    /// <summary>A list with no ranges that matches every address ("(any)" in the configuration docs).</summary>
    public static NetworkList Any { get; } = new([], matchesAll: true);

    /// <summary>A list that matches no address.</summary>
    public static NetworkList None { get; } = new([], matchesAll: false);

    public bool MatchesAll { get; }

    public IReadOnlyList<IPNetwork> Networks => _networks;

    /// <summary>Parses CIDR ranges ("127.0.0.0/8", "::1/128"); a bare address means that one address.</summary>
    public static NetworkList Parse(IEnumerable<string> ranges, string settingName)
    {
        var parsed = new List<IPNetwork>();
        foreach (var raw in ranges)
        {
            var text = raw.Trim();
            if (text.Length == 0)
            {
                continue;
            }

            if (!text.Contains('/') && IPAddress.TryParse(text, out var single))
            {
                text = $"{single}/{(single.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128)}";
            }

            if (!IPNetwork.TryParse(text, out var network))
            {
                throw new FormatException($"{settingName}: '{raw}' is not a CIDR range such as 127.0.0.0/8");
            }

            parsed.Add(network);
        }

        return new NetworkList(parsed, matchesAll: false);
    }

    public bool Contains(IPAddress address)
    {
        if (MatchesAll)
        {
            return true;
        }

        // A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; compare them as the IPv4 address they are.
        var candidate = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
        return _networks.Any(n => n.Contains(candidate));
    }

    public override string ToString() => MatchesAll ? "(any)" : string.Join(", ", _networks);
}
