using System.Text.RegularExpressions;
using AyTrack.Core.Bounces;

namespace AyTrack.Core.Shaping;

/// <summary>
/// What an entry of the rules file matches: a recipient domain, an MX host suffix, or a site (its MX host set) — or a
/// sending domain (the envelope sender's domain and its subdomains), for an entry that only chooses an egress pool.
/// </summary>
public sealed record ShapingMatch(string? Domain, IReadOnlyList<string> MxSuffixes, string? Site, bool IsDefault, string? SenderDomain = null)
{
    public bool Matches(string domain, string site, IReadOnlyList<string> mxHosts) =>
        SenderDomain is null && IsDefault
        || (Domain is not null && Domain == domain)
        || (Site is not null && Site == site)
        || MxSuffixes.Any(suffix => mxHosts.Any(host => host == suffix || host.EndsWith("." + suffix, StringComparison.Ordinal)));

    public bool MatchesSender(string senderDomain) =>
        SenderDomain is not null && (senderDomain == SenderDomain || senderDomain.EndsWith("." + SenderDomain, StringComparison.Ordinal));
}

/// <summary>What an automation rule does when a reply matches it.</summary>
public enum AutomationAction
{
    /// <summary>No new session to the site for the duration; queued mail waits (deferred, not failed).</summary>
    Suspend,

    /// <summary>Lower the site's connection limit and/or rate for the duration.</summary>
    Reduce,

    /// <summary>Fail the recipient for good (a DSN goes to the sender), whatever the reply's code.</summary>
    Bounce,
}

/// <summary>
/// An automation rule: a reply in one of <see cref="Categories"/> (and matching <see cref="Text"/> when given) makes the
/// site <see cref="Action"/> for <see cref="For"/>; it then restores itself.
/// </summary>
public sealed record AutomationRule(
    string Name,
    IReadOnlyList<BounceCategory> Categories,
    Regex? Text,
    AutomationAction Action,
    TimeSpan For,
    int? ConnectionLimit,
    MessageRate? MaxMessageRate,
    int Line)
{
    public bool Matches(BounceCategory category, string reply)
    {
        if (!Categories.Contains(category))
        {
            return false;
        }

        try
        {
            return Text is null || Text.IsMatch(reply);
        }
        catch (RegexMatchTimeoutException)
        {
            // A runaway pattern is no match (as in the bounce rules), never a stalled delivery.
            return false;
        }
    }
}

/// <summary>One entry of the rules file: a match and the settings it gives (null: not set by this entry).</summary>
public sealed record ShapingEntry(
    string Name,
    ShapingMatch Match,
    int? ConnectionLimit,
    int? MessagesPerConnection,
    MessageRate? MaxMessageRate,
    TimeSpan? IdleConnectionTimeout,
    bool? ClusterWide,
    string? Pool,
    IReadOnlyList<AutomationRule> Automation,
    int Line);

/// <summary>
/// The shaping in force for one site: the settings of every entry that matches, later entries in the file overriding
/// earlier ones field by field (so a <c>default</c> entry first, then providers, then single domains), and the
/// automation rules of all of them, most specific first.
/// </summary>
public sealed record SiteShaping(
    string Site,
    int ConnectionLimit,
    int MessagesPerConnection,
    MessageRate? MaxMessageRate,
    TimeSpan IdleConnectionTimeout,
    bool ClusterWide,
    string? Pool,
    IReadOnlyList<AutomationRule> Automation,
    IReadOnlyList<string> From)
{
    /// <summary>
    /// The connections this node may open: the limit itself, or for a cluster-wide rule each up node's share,
    /// max(1, floor(limit / up nodes)).
    /// </summary>
    public int ConnectionLimitOnNode(int upNodes) => ClusterWide ? Share(ConnectionLimit, upNodes) : ConnectionLimit;

    /// <summary>This node's share of a cluster-wide message rate (the same division), or the rate itself.</summary>
    public MessageRate? MaxMessageRateOnNode(int upNodes) =>
        MaxMessageRate is { } rate && ClusterWide ? rate with { Messages = Share(rate.Messages, upNodes) } : MaxMessageRate;

    public static int Share(int limit, int upNodes) => Math.Max(1, limit / Math.Max(1, upNodes));
}

/// <summary>The parsed rules file: its entries in file order.</summary>
public sealed class ShapingRules(IReadOnlyList<ShapingEntry> entries)
{
    public IReadOnlyList<ShapingEntry> Entries { get; } = entries;

    /// <summary>Whether any entry chooses a pool by sending domain (then a batch's senders are read before its sessions).</summary>
    public bool HasSenderPools { get; } = entries.Any(e => e.Match.SenderDomain is not null);

    /// <summary>
    /// The egress pool for mail from <paramref name="senderDomain"/>: the last senderDomain entry that matches (it
    /// wins over the destination's pool), or null.
    /// </summary>
    public string? PoolForSender(string senderDomain)
    {
        var normalized = senderDomain.Trim().TrimEnd('.').ToLowerInvariant();
        return normalized.Length == 0 ? null : Entries.LastOrDefault(e => e.Match.MatchesSender(normalized))?.Pool;
    }

    /// <summary>
    /// A site's name: its MX hosts, lower case, sorted and joined by commas (every domain hosted by the same servers
    /// is one site). A domain without MX (its A record stands in, RFC 5321 §5.1) is a site of its own name.
    /// </summary>
    public static string SiteOf(string domain, IReadOnlyList<string> mxHosts) =>
        mxHosts.Count == 0
            ? domain
            : string.Join(",", mxHosts.Select(h => h.Trim().TrimEnd('.').ToLowerInvariant()).Distinct().Order(StringComparer.Ordinal));

    /// <param name="defaults">AyTrack:Delivery:MaxConnectionsPerDestination and BatchSize: where no entry sets a field.</param>
    /// <param name="site">The site's name when it is not the MX host set (the external server in relay mode).</param>
    public SiteShaping For(string domain, IReadOnlyList<string> mxHosts, (int ConnectionLimit, int MessagesPerConnection) defaults, string? site = null)
    {
        var hosts = mxHosts.Select(h => h.Trim().TrimEnd('.').ToLowerInvariant()).ToList();
        site ??= SiteOf(domain, hosts);
        int connections = defaults.ConnectionLimit, perConnection = defaults.MessagesPerConnection;
        MessageRate? rate = null;
        var idle = TimeSpan.FromSeconds(30);
        var clusterWide = false;
        string? pool = null;
        var automation = new List<AutomationRule>();
        var from = new List<string>();
        foreach (var entry in Entries.Where(e => e.Match.Matches(domain, site, hosts)))
        {
            from.Add(entry.Name);
            connections = entry.ConnectionLimit ?? connections;
            perConnection = entry.MessagesPerConnection ?? perConnection;
            rate = entry.MaxMessageRate ?? rate;
            idle = entry.IdleConnectionTimeout ?? idle;
            clusterWide = entry.ClusterWide ?? clusterWide;
            pool = entry.Pool ?? pool;
            automation.InsertRange(0, entry.Automation);
        }

        return new SiteShaping(site, connections, perConnection, rate, idle, clusterWide, pool, automation, from);
    }
}
