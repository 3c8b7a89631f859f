using AyTrack.Core.Settings;
using Xunit;

namespace AyTrack.Core.Tests;

public sealed class SendingScheduleTests
{
    private static SendingSchedule Schedule(string zone, params ScheduleWindow[] windows) =>
        new(new ScheduleSettings { TimeZone = zone, Windows = windows.ToList() });

    private static ScheduleWindow Window(string start, string end, params string[] days) => new() { Days = days.ToList(), Start = start, End = end };

    [Fact]
    public void No_windows_means_always_open()
    {
        var schedule = Schedule("UTC");

        Assert.True(schedule.IsOpen(DateTimeOffset.UtcNow));
        Assert.Null(schedule.NextChange(DateTimeOffset.UtcNow));
    }

    [Fact]
    public void A_weekday_window_opens_and_closes_in_its_time_zone()
    {
        // 2026-11-27 is a Friday. Berlin is UTC+1 in November.
        var schedule = Schedule("Europe/Berlin", Window("09:00", "17:00", "Mon", "Tue", "Wed", "Thu", "Fri"));
        var before = new DateTimeOffset(2026, 11, 27, 7, 59, 0, TimeSpan.Zero);

        Assert.False(schedule.IsOpen(before));
        Assert.Equal(new DateTimeOffset(2026, 11, 27, 8, 0, 0, TimeSpan.Zero), schedule.NextChange(before));
        Assert.True(schedule.IsOpen(new DateTimeOffset(2026, 11, 27, 8, 0, 0, TimeSpan.Zero)));
        Assert.Equal(new DateTimeOffset(2026, 11, 27, 16, 0, 0, TimeSpan.Zero), schedule.NextChange(new DateTimeOffset(2026, 11, 27, 12, 0, 0, TimeSpan.Zero)));
        // Friday evening: closed over the weekend until Monday 09:00 Berlin.
        Assert.Equal(new DateTimeOffset(2026, 11, 30, 8, 0, 0, TimeSpan.Zero), schedule.NextChange(new DateTimeOffset(2026, 11, 27, 16, 0, 0, TimeSpan.Zero)));
    }

    [Fact]
    public void A_window_whose_end_is_before_its_start_runs_past_midnight()
    {
        var schedule = Schedule("UTC", Window("22:00", "06:00", "Fri"));

        Assert.True(schedule.IsOpen(new DateTimeOffset(2026, 11, 27, 23, 0, 0, TimeSpan.Zero)));
        Assert.True(schedule.IsOpen(new DateTimeOffset(2026, 11, 28, 5, 59, 0, TimeSpan.Zero)));
        Assert.False(schedule.IsOpen(new DateTimeOffset(2026, 11, 28, 6, 0, 0, TimeSpan.Zero)));
        Assert.False(schedule.IsOpen(new DateTimeOffset(2026, 11, 27, 5, 0, 0, TimeSpan.Zero)));
        Assert.Equal(new DateTimeOffset(2026, 11, 28, 6, 0, 0, TimeSpan.Zero), schedule.NextChange(new DateTimeOffset(2026, 11, 28, 1, 0, 0, TimeSpan.Zero)));
    }

    [Fact]
    public void Adjacent_windows_do_not_count_as_a_change()
    {
        var schedule = Schedule("UTC", Window("00:00", "12:00", "Fri"), Window("12:00", "18:00", "Fri"));

        Assert.Equal(new DateTimeOffset(2026, 11, 27, 18, 0, 0, TimeSpan.Zero), schedule.NextChange(new DateTimeOffset(2026, 11, 27, 1, 0, 0, TimeSpan.Zero)));
    }

    [Fact]
    public void A_start_inside_a_DST_gap_opens_at_the_first_valid_time()
    {
        // 2026-03-29: Berlin clocks jump from 02:00 to 03:00.
        var schedule = Schedule("Europe/Berlin", Window("02:30", "04:00", "Sun"));

        Assert.Equal(new DateTimeOffset(2026, 3, 29, 1, 0, 0, TimeSpan.Zero), schedule.NextChange(new DateTimeOffset(2026, 3, 28, 12, 0, 0, TimeSpan.Zero)));
    }
}
