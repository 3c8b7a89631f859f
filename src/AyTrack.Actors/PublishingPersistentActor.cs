using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Event;
using Akka.Persistence;

namespace AyTrack.Actors;

/// <summary>
/// A persistent cluster singleton whose whole state every node mirrors (DKIM keys, submission users; see
/// <see cref="MirrorAgent{TPublished,TCurrent}"/>): each change is persisted, applied, written to the audit log, answered
/// to the requester with the current state, and published on <see cref="Topic"/>.
/// </summary>
public abstract class PublishingPersistentActor<TCurrent> : ReceivePersistentActor
    where TCurrent : class
{
    protected abstract string Topic { get; }

    protected abstract TCurrent Current();

    /// <summary>What the nodes receive on <see cref="Topic"/> for <paramref name="current"/>.</summary>
    protected abstract object Publication(TCurrent current);

    /// <param name="audit">The node-log line for the change: names and who, never a secret or a hash.</param>
    protected void PersistAndPublish<TEvent>(TEvent @event, Action<TEvent> apply, string audit)
        where TEvent : class
    {
        var replyTo = Sender;
        Persist(@event, e =>
        {
            apply(e);
            Log.Info(audit);
            var current = Current();
            replyTo.Tell(current);
            DistributedPubSub.Get(Context.System).Mediator.Tell(new Publish(Topic, Publication(current)));
        });
    }
}
