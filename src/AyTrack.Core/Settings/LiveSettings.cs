namespace AyTrack.Core.Settings;

/// <summary>One version of the operator settings as this node applies it.</summary>
public sealed record SettingsSnapshot(OperatorSettings Settings, long Version)
{
    public SendingSchedule Schedule { get; } = new(Settings.Timing.Schedule);
}

/// <summary>
/// The settings this node currently applies. The node's settings agent replaces the snapshot when the config actor
/// publishes a change; domain actors read it on every tick, so a change acts from their next look at the queue.
/// </summary>
public sealed class LiveSettings(OperatorSettings initial, TimeProvider? clock = null)
{
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;

    private volatile SettingsSnapshot _current = new(initial, 0);

    public SettingsSnapshot Current => _current;

    private volatile SettingsProblem? _problem;

    /// <summary>Why the latest persisted settings did not validate, while the last valid ones stay in force; null when they did.</summary>
    public string? Problem
    {
        get => _problem?.Text;
        set => _problem = value is null ? null : new SettingsProblem(value, _problem?.Since ?? _clock.GetUtcNow());
    }

    /// <summary>Since when <see cref="Problem"/> has been there.</summary>
    public DateTimeOffset? ProblemSince => _problem?.Since;

    /// <summary>Whether <paramref name="version"/> would replace what this node applies (version 0 is the configuration's).</summary>
    public bool IsNewer(long version) => Replaces(version, _current);

    /// <summary>Takes a newer version; an older or equal one (a late or repeated publication) is ignored.</summary>
    public bool Update(SettingsSnapshot snapshot)
    {
        while (true)
        {
            var current = _current;
            if (!Replaces(snapshot.Version, current))
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _current, snapshot, current) == current)
            {
                return true;
            }
        }
    }

    private static bool Replaces(long version, SettingsSnapshot current) => version > current.Version || current.Version == 0;
}

internal sealed record SettingsProblem(string Text, DateTimeOffset Since);
