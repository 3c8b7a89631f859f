namespace AyTrack.Core.Settings;

/// <summary>
/// The settings' entity tag (<c>"v7"</c> for version 7) and the If-Match rule of RFC 9110 §13.1.1: <c>*</c>
/// matches any version; otherwise the list must hold the current tag, compared strongly, so a weak tag (<c>W/"v7"</c>)
/// or one in any other form never matches.
/// </summary>
public static class SettingsETag
{
    public static string Of(long version) => $"\"v{version}\"";

    /// <summary>Whether an If-Match header lets a change of the settings at <paramref name="currentVersion"/> proceed.</summary>
    public static bool Matches(string ifMatch, long currentVersion)
    {
        var current = Of(currentVersion);
        foreach (var element in ifMatch.Split(','))
        {
            var tag = element.Trim(' ', '\t');
            if (tag == "*" || tag == current)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Whether the header is (or lists) <c>*</c>: any current version will do.</summary>
    public static bool IsAny(string ifMatch) => ifMatch.Split(',').Any(t => t.Trim(' ', '\t') == "*");
}
