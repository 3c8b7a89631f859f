using System.Text.Json.Nodes;

namespace AyTrack.Core.Settings;

/// <summary>RFC 7396 JSON merge patch: objects merge member by member, null removes, anything else replaces.</summary>
public static class MergePatch
{
    public static JsonNode? Apply(JsonNode? target, JsonNode? patch)
    {
        if (patch is not JsonObject patchObject)
        {
            return patch?.DeepClone();
        }

        var result = target is JsonObject targetObject ? (JsonObject)targetObject.DeepClone() : new JsonObject();
        foreach (var (name, value) in patchObject)
        {
            if (value is null)
            {
                result.Remove(name);
                continue;
            }

            var merged = Apply(result[name], value);
            result.Remove(name);
            result[name] = merged;
        }

        return result;
    }
}
