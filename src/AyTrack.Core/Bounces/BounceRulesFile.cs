using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace AyTrack.Core.Bounces;

/// <summary>
/// Reads bounce classification rules from YAML: the shipped defaults (bounce-rules.yaml, embedded) and an operator's
/// file (AyTrack:Delivery:BounceRulesPath), whose rules come first and which can drop the defaults
/// (<c>includeDefaults: false</c>). Every problem names its line.
/// </summary>
public static class BounceRulesFile
{
    private static readonly TimeSpan RegexBudget = TimeSpan.FromMilliseconds(50);

    /// <summary>A rules file is a page of YAML, not data: a larger one is refused before it is read.</summary>
    public const long MaxFileSize = YamlRules.MaxFileSize;

    /// <summary>The shipped rules.</summary>
    public static BounceRuleSet Defaults { get; } = Parse(ReadDefaults(), "bounce-rules.yaml (shipped)").Rules;

    /// <summary>The shipped rules' text, for operators who start their own file from it.</summary>
    public static string ReadDefaults() => YamlRules.ReadEmbedded("AyTrack.Core.Bounces.bounce-rules.yaml");

    /// <summary>The rules in force for this path: the defaults alone when it is empty.</summary>
    public static BounceRuleSet Load(string? path)
    {
        if (string.IsNullOrWhiteSpace(path))
        {
            return Defaults;
        }

        var (rules, includeDefaults) = Parse(YamlRules.ReadFile(path), path);
        return includeDefaults ? new BounceRuleSet([.. rules.Rules, .. Defaults.Rules]) : rules;
    }

    public static (BounceRuleSet Rules, bool IncludeDefaults) Parse(string text, string source)
    {
        var (list, includeDefaults) = YamlRules.Document(text, source, "rules");
        return (new BounceRuleSet(list.Children.Select(node => Rule(node, source)).ToList()), includeDefaults);
    }

    private static BounceRule Rule(YamlNode node, string source)
    {
        if (node is not YamlMappingNode fields)
        {
            throw Problem(source, node, "each rule must be a mapping with category and at least one of status, reply, text");
        }

        string? name = null, status = null, reply = null;
        Regex? text = null;
        BounceCategory? category = null;
        foreach (var (key, value) in fields.Children)
        {
            var field = Scalar(key, source);
            var content = Scalar(value, source);
            switch (field)
            {
                case "name":
                    name = content;
                    break;
                case "category":
                    category = Enum.TryParse<BounceCategory>(content, ignoreCase: false, out var parsed) && Enum.IsDefined(parsed) && !content.Any(char.IsDigit)
                        ? parsed
                        : throw Problem(source, value, $"category '{content}' is not one of {string.Join(", ", Enum.GetNames<BounceCategory>())}");
                    break;
                case "status":
                    status = Regex.IsMatch(content, @"^[245]\.(\d{1,3}\.(\d{1,3}|\*)|\*)$")
                        ? content
                        : throw Problem(source, value, $"status '{content}' is not an enhanced status code such as 5.1.1 or 5.7.*");
                    break;
                case "reply":
                    reply = Regex.IsMatch(content, "^[245]([0-9]{2}|xx)$")
                        ? content
                        : throw Problem(source, value, $"reply '{content}' is not a reply code such as 550 or 4xx");
                    break;
                case "text":
                    try
                    {
                        text = new Regex(content, RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, RegexBudget);
                    }
                    catch (ArgumentException error)
                    {
                        throw Problem(source, value, $"text is not a valid regular expression ({error.Message})");
                    }

                    break;
                default:
                    throw Problem(source, key, $"unknown field '{field}' (expected name, category, status, reply, text)");
            }
        }

        if (category is null)
        {
            throw Problem(source, node, "the rule has no category");
        }

        if (status is null && reply is null && text is null)
        {
            throw Problem(source, node, "the rule has no condition (status, reply or text)");
        }

        var line = (int)node.Start.Line;
        return new BounceRule(name ?? $"line {line}", category.Value, status, reply, text, line);
    }

    private static string Scalar(YamlNode node, string source) => YamlRules.Scalar(node, source);

    private static FormatException Problem(string source, YamlNode node, string message) => YamlRules.Problem(source, node, message);
}
