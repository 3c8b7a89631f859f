using System.Globalization;
using System.Text.RegularExpressions;

namespace AyTrack.Core.Shaping;

/// <summary>Durations as the shaping rules and `aytrack site suspend --for` write them: a whole number and s, m, h or d.</summary>
public static partial class ShapingDuration
{
    public static readonly TimeSpan Max = TimeSpan.FromDays(30);

    public static bool TryParse(string? text, out TimeSpan duration)
    {
        duration = TimeSpan.Zero;
        var match = text is null ? Match.Empty : Pattern().Match(text.Trim());
        if (!match.Success || !long.TryParse(match.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var amount) || amount < 1)
        {
            return false;
        }

        duration = match.Groups[2].Value switch
        {
            "s" => TimeSpan.FromSeconds(Math.Min(amount, (long)Max.TotalSeconds + 1)),
            "m" => TimeSpan.FromMinutes(Math.Min(amount, (long)Max.TotalMinutes + 1)),
            "h" => TimeSpan.FromHours(Math.Min(amount, (long)Max.TotalHours + 1)),
            _ => TimeSpan.FromDays(Math.Min(amount, (long)Max.TotalDays + 1)),
        };
        return duration <= Max;
    }

    /// <summary>The shortest exact spelling: 90s → "90s", 3600s → "1h".</summary>
    public static string Format(TimeSpan duration) =>
        duration.TotalSeconds % 86400 == 0 ? $"{duration.TotalDays:0}d"
        : duration.TotalSeconds % 3600 == 0 ? $"{duration.TotalHours:0}h"
        : duration.TotalSeconds % 60 == 0 ? $"{duration.TotalMinutes:0}m"
        : $"{duration.TotalSeconds:0}s";

    [GeneratedRegex("^([0-9]{1,9})([smhd])$", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();
}

/// <summary>A message rate: <c>600/h</c> or <c>20/m</c>.</summary>
public readonly partial record struct MessageRate(int Messages, TimeSpan Per)
{
    public static bool TryParse(string? text, out MessageRate rate)
    {
        rate = default;
        var match = text is null ? Match.Empty : Pattern().Match(text.Trim());
        if (!match.Success || !int.TryParse(match.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var messages) || messages < 1)
        {
            return false;
        }

        rate = new MessageRate(messages, match.Groups[2].Value == "m" ? TimeSpan.FromMinutes(1) : TimeSpan.FromHours(1));
        return true;
    }

    /// <summary>Messages per hour, to compare and divide rates of either unit.</summary>
    public double PerHour => Messages * (TimeSpan.FromHours(1) / Per);

    public override string ToString() => $"{Messages}/{(Per == TimeSpan.FromMinutes(1) ? "m" : "h")}";

    [GeneratedRegex("^([0-9]{1,9})/([mh])$", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();
}
