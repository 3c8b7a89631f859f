using Akka.Actor;
using Akka.Persistence;
using AyTrack.Core.Dkim;

namespace AyTrack.Actors.Dkim;

/// <summary>
/// Owns the cluster's DKIM keys: a persistent cluster singleton beside the config actor. Every change is an event
/// (who and when) and is published to every node, whose <see cref="DkimAgent"/> makes it the keys its listener signs
/// with. The rules are <see cref="DkimKeyring"/>'s.
/// </summary>
public sealed class DkimKeysActor : PublishingPersistentActor<DkimReplies.Keys>
{
    private readonly TimeProvider _clock;
    private DkimKeyring _ring = DkimKeyring.Empty;
    private long _version;

    public DkimKeysActor(TimeProvider clock)
    {
        _clock = clock;
        Recover<DkimEvents.KeyAdded>(Apply);
        Recover<DkimEvents.KeyActivated>(Apply);
        Recover<DkimEvents.KeyRemoved>(Apply);

        Command<DkimCommands.GetKeys>(_ => Sender.Tell(Current()));
        Command<DkimCommands.AddKey>(Handle);
        Command<DkimCommands.ActivateKey>(activate => OnExistingKey(activate.Domain, activate.Selector, (domain, selector) =>
            PersistAndPublish(new DkimEvents.KeyActivated(domain, selector, activate.By, _clock.GetUtcNow()), Apply,
                $"DKIM key {selector} of {domain} activated by {activate.By}")));
        Command<DkimCommands.RemoveKey>(remove => OnExistingKey(remove.Domain, remove.Selector, (domain, selector) =>
            PersistAndPublish(new DkimEvents.KeyRemoved(domain, selector, remove.By, _clock.GetUtcNow()), Apply,
                $"DKIM key {selector} of {domain} removed by {remove.By}")));
    }

    public override string PersistenceId => "aytrack-dkim";

    public static Props Props(TimeProvider clock) => Akka.Actor.Props.Create(() => new DkimKeysActor(clock));

    private void Handle(DkimCommands.AddKey add)
    {
        if (!Normalize(add.Domain, add.Selector, out var domain, out var selector))
        {
            return;
        }

        if (_ring.Find(domain, selector) is not null)
        {
            Sender.Tell(new DkimReplies.Rejected("selector", $"{domain} already has a key with selector {selector}; remove it first or choose another"));
            return;
        }

        if (_ring.TooMany(domain) is { } tooMany)
        {
            Sender.Tell(new DkimReplies.Rejected("domain", tooMany));
            return;
        }

        if (string.IsNullOrEmpty(add.PublicKey) || string.IsNullOrEmpty(add.SealedPrivateKey))
        {
            Sender.Tell(new DkimReplies.Rejected("key", "the key pair is missing"));
            return;
        }

        var entry = new DkimKeyEntry(domain, selector, add.Algorithm, add.PublicKey, add.SealedPrivateKey,
            _ring.WouldActivate(domain), _clock.GetUtcNow());
        PersistAndPublish(new DkimEvents.KeyAdded(entry, add.By), Apply,
            $"DKIM key {selector} ({add.Algorithm}) of {domain} added by {add.By}{(entry.Active ? ", signing" : ", inactive until activated")}");
    }

    /// <summary>Runs <paramref name="act"/> for a key that exists; otherwise answers Rejected (bad names) or NotFound.</summary>
    private void OnExistingKey(string rawDomain, string rawSelector, Action<string, string> act)
    {
        if (!Normalize(rawDomain, rawSelector, out var domain, out var selector))
        {
            return;
        }

        if (_ring.Find(domain, selector) is null)
        {
            Sender.Tell(new DkimReplies.NotFound(domain, selector));
            return;
        }

        act(domain, selector);
    }

    private bool Normalize(string rawDomain, string rawSelector, out string domain, out string selector)
    {
        if (DkimKeyring.TryNormalize(rawDomain, rawSelector, out domain, out selector, out var problem))
        {
            return true;
        }

        Sender.Tell(new DkimReplies.Rejected(problem!.Value.Field, problem.Value.Problem));
        return false;
    }

    protected override string Topic => DkimKeysPublished.Topic;

    protected override object Publication(DkimReplies.Keys current) => new DkimKeysPublished(current.Version, current.Entries);

    protected override DkimReplies.Keys Current() => new(_version, _ring.Keys);

    private void Apply(DkimEvents.KeyAdded e)
    {
        _ring = _ring.Added(e.Key);
        _version++;
    }

    private void Apply(DkimEvents.KeyActivated e)
    {
        _ring = _ring.Activated(e.Domain, e.Selector);
        _version++;
    }

    private void Apply(DkimEvents.KeyRemoved e)
    {
        _ring = _ring.Removed(e.Domain, e.Selector);
        _version++;
    }
}
