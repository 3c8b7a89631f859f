using System.Globalization;
using System.Text.RegularExpressions;
using AyTrack.Core.Addresses;
using AyTrack.Core.Bounces;
using YamlDotNet.RepresentationModel;

namespace AyTrack.Core.Shaping;

/// <summary>
/// Reads traffic-shaping rules from YAML (schema in docs/shaping.md): the shipped defaults (shaping.yaml, embedded)
/// and an operator's file (AyTrack:Delivery:ShapingPath), whose entries come after the defaults (so they override them
/// field by field) unless it says <c>includeDefaults: false</c>. Every problem names its line and field.
/// </summary>
public static class ShapingRulesFile
{
    private static readonly TimeSpan RegexBudget = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan MaxIdle = TimeSpan.FromMinutes(10);

    /// <summary>A rules file is a page of YAML, not data: a larger one is refused before it is read.</summary>
    public const long MaxFileSize = YamlRules.MaxFileSize;

    public const int MaxConnectionLimit = 1000;
    public const int MaxMessagesPerConnection = 10_000;

    public static ShapingRules Defaults { get; } = Parse(ReadDefaults(), "shaping.yaml (shipped)").Rules;

    public static string ReadDefaults() => YamlRules.ReadEmbedded("AyTrack.Core.Shaping.shaping.yaml");

    /// <summary>The rules in force for this path: the defaults alone when it is empty.</summary>
    public static ShapingRules Load(string? path)
    {
        if (string.IsNullOrWhiteSpace(path))
        {
            return Defaults;
        }

        var (rules, includeDefaults) = Parse(YamlRules.ReadFile(path), path);
        return includeDefaults ? new ShapingRules([.. Defaults.Entries, .. rules.Entries]) : rules;
    }

    public static (ShapingRules Rules, bool IncludeDefaults) Parse(string text, string source)
    {
        var (list, includeDefaults) = YamlRules.Document(text, source, "entries");
        var entries = list.Children.Select(node => Entry(node, source)).ToList();
        var duplicate = entries.GroupBy(e => e.Name).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new FormatException($"{source} line {duplicate.Last().Line}: name: '{duplicate.Key}' is used by another entry");
        }

        return (new ShapingRules(entries), includeDefaults);
    }

    private static ShapingEntry Entry(YamlNode node, string source)
    {
        if (node is not YamlMappingNode fields)
        {
            throw Problem(source, node, "each entry must be a mapping with name and match");
        }

        var line = (int)node.Start.Line;
        string? name = null, pool = null;
        ShapingMatch? match = null;
        int? connections = null, perConnection = null;
        MessageRate? rate = null;
        TimeSpan? idle = null;
        bool? clusterWide = null;
        var automation = new List<AutomationRule>();
        foreach (var (key, value) in fields.Children)
        {
            var field = Scalar(key, source);
            switch (field)
            {
                case "name":
                    name = Name(value, source, "name");
                    break;
                case "match":
                    match = Match(value, source);
                    break;
                case "connectionLimit":
                    connections = Number(value, source, field, 1, MaxConnectionLimit);
                    break;
                case "messagesPerConnection":
                    perConnection = Number(value, source, field, 1, MaxMessagesPerConnection);
                    break;
                case "maxMessageRate":
                    rate = Rate(value, source, field);
                    break;
                case "idleConnectionTimeout":
                    // 0s turns session reuse off for the entry's sites: every session ends with its batch.
                    idle = Scalar(value, source) is "0" or "0s" ? TimeSpan.Zero : Duration(value, source, field, MaxIdle);
                    break;
                case "clusterWide":
                    clusterWide = Boolean(value, source, field);
                    break;
                case "pool":
                    pool = Name(value, source, field);
                    break;
                case "automation":
                    automation.AddRange((value as YamlSequenceNode ?? throw Problem(source, value, "automation must be a list"))
                        .Children.Select(rule => Automation(rule, source)));
                    break;
                default:
                    throw Problem(source, key, $"unknown field '{field}' (expected name, match, connectionLimit, messagesPerConnection, " +
                                               "maxMessageRate, idleConnectionTimeout, clusterWide, pool, automation)");
            }
        }

        if (name is null)
        {
            throw Problem(source, node, "name: the entry has no name");
        }

        if (match is null)
        {
            throw Problem(source, node, "match: the entry has no match (default, or one of domain, mxSuffix, site, senderDomain)");
        }

        if (match.SenderDomain is not null && (pool is null || connections is not null || perConnection is not null || rate is not null
                                               || idle is not null || clusterWide is not null || automation.Count > 0))
        {
            throw Problem(source, node, "match.senderDomain: an entry for a sending domain sets pool and nothing else (limits belong to destinations)");
        }

        return new ShapingEntry(name, match, connections, perConnection, rate, idle, clusterWide, pool, automation, line);
    }

    private static ShapingMatch Match(YamlNode node, string source)
    {
        if (node is YamlScalarNode { Value: "default" })
        {
            return new ShapingMatch(null, [], null, IsDefault: true);
        }

        if (node is not YamlMappingNode fields || fields.Children.Count != 1)
        {
            throw Problem(source, node, "match: expected 'default' or exactly one of domain, mxSuffix, site, senderDomain");
        }

        var (key, value) = fields.Children.Single();
        return Scalar(key, source) switch
        {
            "domain" => new ShapingMatch(Domain(value, source, "match.domain"), [], null, false),
            "senderDomain" => new ShapingMatch(null, [], null, false, Domain(value, source, "match.senderDomain")),
            "mxSuffix" => new ShapingMatch(null, (value is YamlSequenceNode list ? list.Children : [value])
                .Select(v => Domain(v, source, "match.mxSuffix")).ToList(), null, false),
            "site" => new ShapingMatch(null, [], string.Join(",", Scalar(value, source).Split(',').Select(h => Domain(value, h, source, "match.site"))
                .Order(StringComparer.Ordinal)), false),
            var other => throw Problem(source, key, $"match: unknown field '{other}' (expected domain, mxSuffix, site, senderDomain)"),
        };
    }

    private static AutomationRule Automation(YamlNode node, string source)
    {
        if (node is not YamlMappingNode fields)
        {
            throw Problem(source, node, "each automation rule must be a mapping with categories, action and for");
        }

        var line = (int)node.Start.Line;
        string? name = null;
        var categories = new List<BounceCategory>();
        Regex? text = null;
        AutomationAction? action = null;
        TimeSpan? duration = null;
        int? connections = null;
        MessageRate? rate = null;
        foreach (var (key, value) in fields.Children)
        {
            var field = Scalar(key, source);
            switch (field)
            {
                case "name":
                    name = Name(value, source, "automation.name");
                    break;
                case "categories":
                case "category":
                    foreach (var item in value is YamlSequenceNode list ? list.Children : [value])
                    {
                        var content = Scalar(item, source);
                        categories.Add(Enum.TryParse<BounceCategory>(content, ignoreCase: false, out var parsed) && Enum.IsDefined(parsed) && !content.Any(char.IsDigit)
                            ? parsed
                            : throw Problem(source, item, $"automation.categories: '{content}' is not one of {string.Join(", ", Enum.GetNames<BounceCategory>())}"));
                    }

                    break;
                case "text":
                    try
                    {
                        text = new Regex(Scalar(value, source), RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, RegexBudget);
                    }
                    catch (ArgumentException error)
                    {
                        throw Problem(source, value, $"automation.text is not a valid regular expression ({error.Message})");
                    }

                    break;
                case "action":
                    action = Scalar(value, source) switch
                    {
                        "suspend" => AutomationAction.Suspend,
                        "reduce" => AutomationAction.Reduce,
                        "bounce" => AutomationAction.Bounce,
                        var other => throw Problem(source, value, $"automation.action: '{other}' is not one of suspend, reduce, bounce"),
                    };
                    break;
                case "for":
                    duration = Duration(value, source, "automation.for", ShapingDuration.Max);
                    break;
                case "connectionLimit":
                    connections = Number(value, source, "automation.connectionLimit", 1, MaxConnectionLimit);
                    break;
                case "maxMessageRate":
                    rate = Rate(value, source, "automation.maxMessageRate");
                    break;
                default:
                    throw Problem(source, key, $"automation: unknown field '{field}' (expected name, categories, text, action, for, connectionLimit, maxMessageRate)");
            }
        }

        if (categories.Count == 0)
        {
            throw Problem(source, node, "automation.categories: the rule matches no bounce category");
        }

        if (action is null)
        {
            throw Problem(source, node, "automation.action: the rule has no action (suspend, reduce, bounce)");
        }

        if (action != AutomationAction.Bounce && duration is null)
        {
            throw Problem(source, node, "automation.for: suspend and reduce need a duration (30s, 15m, 2h, 1d)");
        }

        if (action == AutomationAction.Reduce && connections is null && rate is null)
        {
            throw Problem(source, node, "automation: reduce needs connectionLimit or maxMessageRate");
        }

        return new AutomationRule(name ?? $"line {line}", categories, text, action.Value, duration ?? TimeSpan.Zero, connections, rate, line);
    }

    private static string Name(YamlNode node, string source, string field)
    {
        var value = Scalar(node, source);
        return Regex.IsMatch(value, "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
            ? value
            : throw Problem(source, node, $"{field}: '{value}' must be 1-64 letters, digits, '.', '_' or '-'");
    }

    private static string Domain(YamlNode node, string source, string field) => Domain(node, Scalar(node, source), source, field);

    private static string Domain(YamlNode node, string text, string source, string field) =>
        DomainName.TryNormalize(text, out var normalized, out var error)
            ? normalized
            : throw Problem(source, node, $"{field}: '{text}' is not a domain name ({error})");

    private static int Number(YamlNode node, string source, string field, int min, int max) =>
        int.TryParse(Scalar(node, source), NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max
            ? value
            : throw Problem(source, node, $"{field}: must be a whole number from {min} to {max}");

    private static MessageRate Rate(YamlNode node, string source, string field) =>
        MessageRate.TryParse(Scalar(node, source), out var rate)
            ? rate
            : throw Problem(source, node, $"{field}: '{Scalar(node, source)}' is not a rate such as 600/h or 20/m");

    private static TimeSpan Duration(YamlNode node, string source, string field, TimeSpan max) =>
        ShapingDuration.TryParse(Scalar(node, source), out var duration) && duration <= max
            ? duration
            : throw Problem(source, node, $"{field}: '{Scalar(node, source)}' is not a duration such as 30s, 15m, 2h or 1d (at most {ShapingDuration.Format(max)})");

    private static bool Boolean(YamlNode node, string source, string field) => YamlRules.Boolean(node, source, field);

    private static string Scalar(YamlNode node, string source) => YamlRules.Scalar(node, source);

    private static FormatException Problem(string source, YamlNode node, string message) => YamlRules.Problem(source, node, message);
}
