using System.Globalization;

namespace AyTrack.Core.Settings;

/// <summary>
/// The weekly sending windows (timing.schedule) in their time zone. A window belongs to the day it starts on; an
/// end at or before its start runs past midnight into the next day. No windows means always open.
/// </summary>
public sealed class SendingSchedule
{
    private readonly TimeZoneInfo _zone;
    private readonly IReadOnlyList<(DayOfWeek Day, TimeSpan Start, TimeSpan End)> _windows;

    public SendingSchedule(ScheduleSettings settings)
    {
        _zone = TimeZoneInfo.FindSystemTimeZoneById(settings.TimeZone);
        _windows = settings.Windows
            .SelectMany(w => w.Days.Select(d => (Day(d), Time(w.Start), Time(w.End))))
            .ToList();
    }

    public bool AlwaysOpen => _windows.Count == 0;

    public bool IsOpen(DateTimeOffset now)
    {
        if (AlwaysOpen)
        {
            return true;
        }

        var local = TimeZoneInfo.ConvertTime(now, _zone);
        return Intervals(local.Date.AddDays(-1), 2).Any(i => i.Open <= now && now < i.Close);
    }

    /// <summary>The next moment the gate opens or closes after <paramref name="now"/>; null when it never changes.</summary>
    public DateTimeOffset? NextChange(DateTimeOffset now)
    {
        if (AlwaysOpen)
        {
            return null;
        }

        var open = IsOpen(now);
        var local = TimeZoneInfo.ConvertTime(now, _zone);
        return Intervals(local.Date.AddDays(-1), 9)
            .SelectMany(i => new[] { i.Open, i.Close })
            .Where(t => t > now)
            .Order()
            .Cast<DateTimeOffset?>()
            .FirstOrDefault(t => IsOpen(t!.Value) != open);
    }

    private IEnumerable<(DateTimeOffset Open, DateTimeOffset Close)> Intervals(DateTime firstLocalDate, int days)
    {
        for (var i = 0; i < days; i++)
        {
            var date = firstLocalDate.AddDays(i);
            foreach (var (day, start, end) in _windows.Where(w => w.Day == date.DayOfWeek))
            {
                var close = end <= start ? date.AddDays(1) + end : date + end;
                yield return (ToInstant(date + start), ToInstant(close));
            }
        }
    }

    /// <summary>Local wall-clock time to an instant; a time skipped by a DST change moves forward to the first that exists.</summary>
    private DateTimeOffset ToInstant(DateTime local)
    {
        var unspecified = DateTime.SpecifyKind(local, DateTimeKind.Unspecified);
        while (_zone.IsInvalidTime(unspecified))
        {
            unspecified = unspecified.AddMinutes(30);
        }

        return new DateTimeOffset(unspecified, _zone.GetUtcOffset(unspecified));
    }

    private static DayOfWeek Day(string name) => name switch
    {
        "Mon" => DayOfWeek.Monday,
        "Tue" => DayOfWeek.Tuesday,
        "Wed" => DayOfWeek.Wednesday,
        "Thu" => DayOfWeek.Thursday,
        "Fri" => DayOfWeek.Friday,
        "Sat" => DayOfWeek.Saturday,
        "Sun" => DayOfWeek.Sunday,
        _ => throw new ArgumentException($"'{name}' is not a day name", nameof(name)),
    };

    private static TimeSpan Time(string text) => TimeOnly.ParseExact(text, "HH:mm", CultureInfo.InvariantCulture).ToTimeSpan();
}
