using System.Text.Json;
using System.Text.Json.Nodes;

namespace AyTrack.Core.Settings;

/// <summary>
/// Reads typed values out of a JSON document strictly, collecting every problem under the JSON path of the value at
/// fault (<c>"timing.threads": ["must be between 1 and 500"]</c>) instead of stopping at the first. A missing value
/// reads as null, so the caller supplies the default.
/// </summary>
internal sealed class JsonFieldReader
{
    private readonly SortedDictionary<string, List<string>> _errors = new(StringComparer.Ordinal);

    public int ErrorCount => _errors.Count;

    public IReadOnlyDictionary<string, string[]> Errors => _errors.ToDictionary(kv => kv.Key, kv => kv.Value.ToArray());

    public void Error(string path, string message)
    {
        if (!_errors.TryGetValue(path, out var list))
        {
            _errors[path] = list = [];
        }

        if (!list.Contains(message))
        {
            list.Add(message);
        }
    }

    /// <summary>Reports every member of <paramref name="node"/> that is not one of <paramref name="names"/>.</summary>
    public void Known(JsonObject node, string prefix, params string[] names)
    {
        foreach (var (name, _) in node)
        {
            if (!names.Contains(name))
            {
                Error(prefix + name, "is not a setting");
            }
        }
    }

    public JsonObject Object(JsonObject parent, string path)
    {
        switch (parent[Name(path)])
        {
            case null:
                return new JsonObject();
            case JsonObject o:
                return o;
            default:
                Error(path, "must be an object");
                return new JsonObject();
        }
    }

    public string? String(JsonObject parent, string path)
    {
        var node = parent[Name(path)];
        if (node is null)
        {
            return null;
        }

        if (node is JsonValue value && value.GetValueKind() == JsonValueKind.String)
        {
            return value.GetValue<string>();
        }

        Error(path, "must be a string");
        return null;
    }

    public bool? Boolean(JsonObject parent, string path)
    {
        var node = parent[Name(path)];
        if (node is null)
        {
            return null;
        }

        if (node is JsonValue value && value.GetValueKind() is JsonValueKind.True or JsonValueKind.False)
        {
            return value.GetValue<bool>();
        }

        Error(path, "must be true or false");
        return null;
    }

    public int? Integer(JsonObject parent, string path, int min, int max)
    {
        var node = parent[Name(path)];
        if (node is null)
        {
            return null;
        }

        if (node is JsonValue value && value.GetValueKind() == JsonValueKind.Number && value.TryGetValue<int>(out var number)
            && number >= min && number <= max)
        {
            return number;
        }

        Error(path, max == int.MaxValue ? $"must be a whole number, at least {min}" : $"must be between {min} and {max}");
        return null;
    }

    /// <summary>A number of days: greater than 0, at most ten years, decimals allowed.</summary>
    /// <summary>A number of hours, 0 or more (decimals allowed), at most ten years' worth.</summary>
    public double? Hours(JsonObject parent, string path)
    {
        var node = parent[Name(path)];
        if (node is null)
        {
            return null;
        }

        if (node is JsonValue value && value.GetValueKind() == JsonValueKind.Number && value.GetValue<double>() is >= 0 and <= 87_600 and var number)
        {
            return number;
        }

        Error(path, "must be a number of hours, 0 or more (decimals allowed; 0 turns it off)");
        return null;
    }

    public double? Days(JsonObject parent, string path)
    {
        var node = parent[Name(path)];
        if (node is null)
        {
            return null;
        }

        if (node is JsonValue value && value.GetValueKind() == JsonValueKind.Number && value.GetValue<double>() is > 0 and <= 3650 and var number)
        {
            return number;
        }

        Error(path, "must be a number of days greater than 0 (decimals allowed)");
        return null;
    }

    public TEnum? Enum<TEnum>(JsonObject parent, string path)
        where TEnum : struct, System.Enum
    {
        var text = String(parent, path);
        if (text is null)
        {
            return null;
        }

        if (EnumNames.TryParse<TEnum>(text, out var value))
        {
            return value;
        }

        Error(path, $"must be one of {string.Join(", ", System.Enum.GetNames<TEnum>())}");
        return null;
    }

    /// <summary>The member name is the last segment of the path ("relay.port" → "port").</summary>
    private static string Name(string path) => path[(path.LastIndexOf('.') + 1)..];
}
