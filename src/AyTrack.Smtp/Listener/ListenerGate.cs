using System.Collections.Concurrent;
using SmtpServer;

namespace AyTrack.Smtp.Listener;

/// <summary>
/// The listener's open/closing state for a graceful stop: once <see cref="Stopping"/> is set, new sessions are
/// greeted with 421 4.3.2 and new transactions refused, while transactions already under way may finish.
/// </summary>
public sealed class ListenerGate
{
    private readonly ConcurrentDictionary<Guid, ISessionContext> _sessions = new();
    private volatile bool _stopping;

    public bool Stopping => _stopping;

    public int OpenSessions => _sessions.Count;

    public int SessionsInTransaction => _sessions.Values.Count(s => SessionState.Of(s).InTransaction);

    public void Stop() => _stopping = true;

    internal void Opened(ISessionContext context) => _sessions[context.SessionId] = context;

    internal void Closed(ISessionContext context) => _sessions.TryRemove(context.SessionId, out _);
}
