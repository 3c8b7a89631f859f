using Akka.Actor;
using Akka.Event;
using AyTrack.Core.Dkim;

namespace AyTrack.Actors.Dkim;

/// <summary>One per node: keeps <see cref="LiveDkimKeys"/> equal to the key actor's keys.</summary>
public sealed class DkimAgent(IActorRef keys, LiveDkimKeys live)
    : MirrorAgent<DkimKeysPublished, DkimReplies.Keys>(keys, DkimKeysPublished.Topic, new DkimCommands.GetKeys())
{
    private readonly ILoggingAdapter _log = Context.GetLogger();

    public static Props Props(IActorRef keys, LiveDkimKeys live) => Akka.Actor.Props.Create(() => new DkimAgent(keys, live));

    protected override void Apply(DkimKeysPublished published) => Apply(published.Version, published.Entries);

    protected override void Apply(DkimReplies.Keys current) => Apply(current.Version, current.Entries);

    private void Apply(long version, IReadOnlyList<DkimKeyEntry> entries)
    {
        try
        {
            if (live.Update(version, entries))
            {
                _log.Info("DKIM keys version {0}: {1} signing key(s) for {2} domain(s)", version, entries.Count(e => e.Active),
                    entries.Where(e => e.Active).Select(e => e.Domain).Distinct().Count());
            }
        }
        catch (Exception error) when (error is System.Security.Cryptography.CryptographicException or FormatException)
        {
            // Mail keeps flowing unsigned rather than stopping; the operator sees why.
            _log.Error("DKIM keys version {0} cannot be opened on this node ({1}): every node needs the same AyTrack:Secrets:KeyFile",
                version, error.Message);
        }
    }
}
