using AyTrack.Core.Addresses;
using AyTrack.Core.Bounces;
using AyTrack.Core.Delivery;

namespace AyTrack.Core.Shaping;

/// <summary>
/// The shaping in force on this node: the rules (swapped whole when the file is reloaded), the configuration's
/// defaults for what no rule sets (AyTrack:Delivery:MaxConnectionsPerDestination and BatchSize), the number of up
/// nodes that share a cluster-wide limit, and the node's <see cref="SiteLimiter"/>.
/// </summary>
public sealed class LiveShaping(ShapingRules rules, int defaultConnectionLimit, int defaultMessagesPerConnection, SiteLimiter limiter)
{
    private volatile ShapingRules _rules = rules;
    private volatile int _upNodes = 1;

    public ShapingRules Rules
    {
        get => _rules;
        set => _rules = value;
    }

    /// <summary>Up members of the cluster (the settings agent keeps it current); a cluster-wide limit is shared among them.</summary>
    public int UpNodes
    {
        get => _upNodes;
        set => _upNodes = Math.Max(1, value);
    }

    public SiteLimiter Limiter { get; } = limiter;

    public (int ConnectionLimit, int MessagesPerConnection) Defaults { get; } = (defaultConnectionLimit, defaultMessagesPerConnection);

    public SiteShaping For(string domain, IReadOnlyList<string> mxHosts, string? site = null) => Rules.For(domain, mxHosts, Defaults, site);
}

/// <summary>
/// Finds the site of a recipient domain before a session is given out: its MX host set (the MX lookup, cached by
/// its TTL), or in relay mode the external server, and the shaping that applies to it.
/// </summary>
public interface ISiteRouter
{
    Task<SiteShaping> ShapingForAsync(RecipientDomain domain, CancellationToken cancellationToken);
}

/// <summary>
/// The automation rules of a site applied to one session's results (KumoMTA's automation, PowerMTA's backoff): a
/// reply whose bounce category (and text, when the rule has a pattern) matches suspends the site or reduces its
/// limit or rate for the rule's duration, or fails the recipient for good. Each rule acts at most once per session,
/// and only the first matching rule (most specific first) acts on a reply.
/// </summary>
public static class SiteAutomation
{
    public static (IReadOnlyList<MessageAttempt> Attempts, IReadOnlyList<SiteChange> Changes) Apply(SiteLimiter limiter, SiteShaping shaping,
        IReadOnlyList<MessageAttempt> attempts, Func<SmtpReply, BounceCategory> classify)
    {
        if (shaping.Automation.Count == 0)
        {
            return (attempts, []);
        }

        var changes = new List<SiteChange>();
        var acted = new HashSet<AutomationRule>();
        var result = new List<MessageAttempt>(attempts.Count);
        foreach (var attempt in attempts)
        {
            var changed = false;
            var results = new List<RecipientAttempt>(attempt.Results.Count);
            foreach (var recipient in attempt.Results)
            {
                if (recipient.Outcome is not (RecipientOutcome.Deferred or RecipientOutcome.Failed))
                {
                    results.Add(recipient);
                    continue;
                }

                var category = classify(recipient.Reply);
                var text = recipient.Reply.ToString();
                var rule = shaping.Automation.FirstOrDefault(r => r.Matches(category, text));
                if (rule is null)
                {
                    results.Add(recipient);
                    continue;
                }

                var reason = $"rule {rule.Name} ({category}): {Shorten(text)}";
                switch (rule.Action)
                {
                    case AutomationAction.Suspend when acted.Add(rule):
                        changes.Add(limiter.Suspend(shaping.Site, rule.For, reason));
                        break;
                    case AutomationAction.Reduce when acted.Add(rule):
                        changes.Add(limiter.Reduce(shaping.Site, rule.ConnectionLimit, rule.MaxMessageRate, rule.For, reason));
                        break;
                    case AutomationAction.Bounce when recipient.Outcome == RecipientOutcome.Deferred:
                        // The receiver said "later", the operator's rule says this never gets better: a DSN now.
                        results.Add(recipient with { Outcome = RecipientOutcome.Failed });
                        changed = true;
                        continue;
                }

                results.Add(recipient);
            }

            result.Add(changed ? attempt with { Results = results } : attempt);
        }

        return (result, changes);
    }

    /// <summary>The receiver's words, on one line and at most 200 characters: they go into log lines and the site's status.</summary>
    private static string Shorten(string reply)
    {
        var line = new string(reply.Select(c => char.IsControl(c) ? ' ' : c).ToArray());
        return line.Length <= 200 ? line : line[..200] + "…";
    }
}

/// <summary>An operator's suspension and resume of a site on this node (the node's shaping service does them).</summary>
public interface ISiteOperations
{
    /// <summary>Null when refused: the node already holds the most restrictions it writes down (<see cref="SiteNames.MaxRestricted"/>).</summary>
    SiteChange? Suspend(string site, DateTimeOffset until, string reason);

    SiteChange? Resume(string site, string reason);
}

/// <summary>What a site name and an operator's reason may be, wherever they come from (the API, another node).</summary>
public static class SiteNames
{
    public const int MaxLength = 2048;
    public const int MaxReason = 200;

    /// <summary>A reason as a node stores and sends it: the operator's words and who gave them ("… (by client from address)").</summary>
    public const int MaxStoredReason = 400;

    /// <summary>
    /// Sites an operator may hold suspended or reduced on a node at once: each is a line of site-state.json written at
    /// every change, so 10,000 requests for 10,000 made-up sites must not grow it without end.
    /// </summary>
    public const int MaxRestricted = 1000;

    /// <summary>A site is host names joined by commas, or relay:host:port; null when <paramref name="site"/> is one.</summary>
    public static string? Problem(string? site) =>
        site is null || site.Length is 0 or > MaxLength || !site.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or ',' or ':' or '_' or '[' or ']')
            ? $"must be a site name as /api/sites lists it (host names joined by commas, or relay:host:port), at most {MaxLength} characters"
            : null;

    /// <summary>Whether a reason fits on one line of at most <paramref name="max"/> characters (it goes into log lines).</summary>
    public static bool IsReason(string? reason, int max) => reason is not null && reason.Length <= max && !reason.Any(char.IsControl);
}
