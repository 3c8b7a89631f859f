namespace AyTrack.Core.Domains;

/// <summary>
/// When a domain actor snapshots its queue. A snapshot costs the whole queue, so a big queue takes one only after
/// events worth half of it: the work stays proportional to the events, and recovery replays at most that many after
/// the snapshot. An emptied queue costs nothing to snapshot, and leaves an idle domain with almost nothing in the
/// journal.
/// </summary>
public sealed class SnapshotRule(int every)
{
    private int _eventsSinceSnapshot;

    /// <summary>Counts one applied event; true when a snapshot of the queue as it is now is due.</summary>
    public bool EventApplied(int queuedMessages)
    {
        ++_eventsSinceSnapshot;
        if (_eventsSinceSnapshot >= Math.Max(every, queuedMessages / 2) ||
            (queuedMessages == 0 && _eventsSinceSnapshot >= Math.Max(1, every / 10)))
        {
            _eventsSinceSnapshot = 0;
            return true;
        }

        return false;
    }
}
