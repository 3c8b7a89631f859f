using System.Text.Json;

namespace AyTrack.Core.Settings;

/// <summary>
/// Finds the first property name that appears twice in one JSON object. RFC 8259 §4 leaves duplicates to the reader,
/// and readers disagree (last wins, first wins, or an exception deep inside whoever parses it next): AyTrack refuses
/// them where the body arrives, naming the key.
/// </summary>
public static class JsonDuplicateKeys
{
    /// <summary>The JSON path of the first duplicate ("relay.port"), or null. Malformed JSON is left to the caller's parser.</summary>
    public static string? Find(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow, MaxDepth = 64 });
        var scopes = new Stack<(HashSet<string>? Names, string Path)>();
        var pendingName = string.Empty;
        try
        {
            while (reader.Read())
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.StartObject:
                        scopes.Push((new HashSet<string>(StringComparer.Ordinal), Child(scopes, pendingName)));
                        break;
                    case JsonTokenType.StartArray:
                        scopes.Push((null, Child(scopes, pendingName)));
                        break;
                    case JsonTokenType.EndObject:
                    case JsonTokenType.EndArray:
                        scopes.Pop();
                        break;
                    case JsonTokenType.PropertyName:
                        pendingName = reader.GetString()!;
                        var (names, path) = scopes.Peek();
                        if (!names!.Add(pendingName))
                        {
                            return path.Length == 0 ? pendingName : $"{path}.{pendingName}";
                        }

                        break;
                }
            }
        }
        catch (JsonException)
        {
            return null;
        }

        return null;
    }

    private static string Child(Stack<(HashSet<string>? Names, string Path)> scopes, string name)
    {
        if (scopes.Count == 0)
        {
            return string.Empty;
        }

        var (names, path) = scopes.Peek();
        var segment = names is null ? "[]" : name;
        return path.Length == 0 ? segment : names is null ? path + segment : $"{path}.{segment}";
    }
}
