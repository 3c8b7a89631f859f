using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace AyTrack.Core;

/// <summary>
/// What the YAML rule files (bounce categories, traffic shaping) share: the shipped file embedded in this assembly, an
/// operator's file read only when it is small, one document of <c>includeDefaults</c> and a list, and errors that
/// name the file and line.
/// </summary>
internal static class YamlRules
{
    /// <summary>A rules file is a page of YAML, not data: a larger one is refused before it is read.</summary>
    public const long MaxFileSize = 1024 * 1024;

    public static string ReadEmbedded(string resource)
    {
        using var stream = typeof(YamlRules).Assembly.GetManifestResourceStream(resource)
                           ?? throw new InvalidOperationException($"{resource} is not embedded");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    public static string ReadFile(string path)
    {
        try
        {
            if (new FileInfo(path).Length > MaxFileSize)
            {
                throw new FormatException($"{path}: larger than {MaxFileSize} bytes; a rules file is a page of YAML");
            }

            return File.ReadAllText(path);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            throw new FormatException($"{path}: cannot be read ({error.Message})", error);
        }
    }

    /// <summary>The file's one document: its list under <paramref name="listKey"/> and whether the shipped rules stay.</summary>
    public static (YamlSequenceNode List, bool IncludeDefaults) Document(string text, string source, string listKey)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException error)
        {
            throw new FormatException($"{source} line {error.Start.Line}: {error.Message}", error);
        }

        if (stream.Documents.Count != 1 || stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            throw new FormatException($"{source} line 1: expected one YAML document with '{listKey}:' (and optionally 'includeDefaults:')");
        }

        var includeDefaults = true;
        YamlSequenceNode? list = null;
        foreach (var (key, value) in root.Children)
        {
            var name = Scalar(key, source);
            if (name == "includeDefaults")
            {
                includeDefaults = Boolean(value, source, "includeDefaults");
            }
            else if (name == listKey)
            {
                list = value as YamlSequenceNode ?? throw Problem(source, value, $"{listKey} must be a list");
            }
            else
            {
                throw Problem(source, key, $"unknown key '{name}' (expected {listKey}, includeDefaults)");
            }
        }

        return (list ?? throw new FormatException($"{source} line 1: '{listKey}:' is missing"), includeDefaults);
    }

    public static bool Boolean(YamlNode node, string source, string field) => Scalar(node, source) switch
    {
        "true" => true,
        "false" => false,
        var other => throw Problem(source, node, $"{field} must be true or false, not '{other}'"),
    };

    public static string Scalar(YamlNode node, string source) =>
        node is YamlScalarNode { Value: { } value } ? value : throw Problem(source, node, "expected a single value");

    public static FormatException Problem(string source, YamlNode node, string message) =>
        new($"{source} line {node.Start.Line}: {message}");
}
