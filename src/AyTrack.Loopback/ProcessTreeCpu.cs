using System.Globalization;

namespace AyTrack.Loopback;

/// <summary>
/// The CPU time of a process and every process under it, read from Linux's <c>/proc</c>: for Postfix, whose work is
/// done by daemons its master starts and reaps (smtpd, cleanup, qmgr, smtp), so no single process holds it.
/// </summary>
public static class ProcessTreeCpu
{
    // proc(5): utime, stime, cutime and cstime are fields 14–17 of /proc/PID/stat, counted in USER_HZ ticks, which
    // Linux fixes at 100 a second for user space.
    private const double TicksPerSecond = 100;

    /// <summary>
    /// User and system time of <paramref name="pid"/> and its live descendants, each with the time of its children it
    /// has already reaped: a daemon that exits between two readings moves its whole time into its parent's reaped
    /// share, so the difference of two readings is the tree's CPU between them.
    /// </summary>
    public static TimeSpan Read(int pid)
    {
        var stats = ReadAll();
        var ticks = 0L;
        var pending = new Stack<int>([pid]);
        while (pending.TryPop(out var current))
        {
            if (!stats.TryGetValue(current, out var stat))
            {
                continue;
            }

            ticks += stat.Ticks;
            foreach (var (child, childStat) in stats)
            {
                if (childStat.Parent == current)
                {
                    pending.Push(child);
                }
            }
        }

        return TimeSpan.FromSeconds(ticks / TicksPerSecond);
    }

    /// <summary>The processes whose command name (<c>/proc/PID/comm</c>, as <c>stat</c> gives it) is <paramref name="name"/>.</summary>
    public static IEnumerable<int> Named(string name) => ReadAll().Where(p => p.Value.Name == name).Select(p => p.Key);

    private static Dictionary<int, (int Parent, long Ticks, string Name)> ReadAll()
    {
        var stats = new Dictionary<int, (int, long, string)>();
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            string text;
            try
            {
                text = File.ReadAllText(Path.Combine(directory, "stat"));
            }
            catch (Exception error) when (error is IOException or UnauthorizedAccessException)
            {
                continue; // The process ended while the list was read.
            }

            // The command name (field 2) is in parentheses and may hold spaces: the fields after it start at the last ')'.
            var close = text.LastIndexOf(')');
            var fields = text[(close + 2)..].Split(' ');
            var parent = int.Parse(fields[1], CultureInfo.InvariantCulture);
            var ticks = Enumerable.Range(11, 4).Sum(i => long.Parse(fields[i], CultureInfo.InvariantCulture));
            stats[pid] = (parent, ticks, text[(text.IndexOf('(') + 1)..close]);
        }

        return stats;
    }
}
