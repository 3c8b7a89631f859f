namespace AyTrack.Smtp.Listener;

/// <summary>
/// The octets of message data all sessions together may hold in memory (AyTrack:Listener:MaxBufferedData). A session
/// that cannot reserve more writes its message to a file instead, so memory is bounded by this figure and never by
/// what clients send.
/// </summary>
public sealed class BufferBudget(long limit)
{
    private long _held;

    public bool TryReserve(long octets)
    {
        while (true)
        {
            var held = Interlocked.Read(ref _held);
            if (held + octets > limit)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _held, held + octets, held) == held)
            {
                return true;
            }
        }
    }

    public void Release(long octets) => Interlocked.Add(ref _held, -octets);
}
