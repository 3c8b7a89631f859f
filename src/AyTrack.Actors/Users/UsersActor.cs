using Akka.Actor;
using Akka.Persistence;
using AyTrack.Core.Users;

namespace AyTrack.Actors.Users;

/// <summary>
/// Owns the cluster's submission users: a persistent cluster singleton beside the config and DKIM actors. Every change
/// is an event (who and when) and is published to every node, whose <see cref="UsersAgent"/> makes it the users its
/// listeners authenticate. The audit log names the user and the operator, never a hash.
/// </summary>
public sealed class UsersActor : PublishingPersistentActor<UserReplies.Users>
{
    private readonly TimeProvider _clock;
    private UserDirectory _users = UserDirectory.Empty;
    private long _version;

    public UsersActor(TimeProvider clock)
    {
        _clock = clock;
        Recover<UserEvents.Added>(Apply);
        Recover<UserEvents.Removed>(Apply);
        Recover<UserEvents.PasswordChanged>(Apply);
        Recover<UserEvents.SenderDomainsChanged>(Apply);

        Command<UserCommands.GetUsers>(_ => Sender.Tell(Current()));
        Command<UserCommands.AddUser>(Handle);
        Command<UserCommands.RemoveUser>(remove => OnExisting(remove.Name, name =>
            PersistAndPublish(new UserEvents.Removed(name, remove.By, _clock.GetUtcNow()), Apply, $"Submission user {name} removed by {remove.By}")));
        Command<UserCommands.SetPassword>(set => OnExisting(set.Name, name =>
        {
            if (!LooksHashed(set.PasswordHash))
            {
                return;
            }

            PersistAndPublish(new UserEvents.PasswordChanged(name, set.PasswordHash, set.By, _clock.GetUtcNow()), Apply,
                $"Password of submission user {name} changed by {set.By}");
        }));
        Command<UserCommands.SetSenderDomains>(set => OnExisting(set.Name, name =>
        {
            if (!UserDirectory.TryNormalizeDomains(set.SenderDomains, out var domains, out var problem))
            {
                Sender.Tell(new UserReplies.Rejected("senderDomains", problem!));
                return;
            }

            PersistAndPublish(new UserEvents.SenderDomainsChanged(name, domains, set.By, _clock.GetUtcNow()), Apply,
                $"Sender domains of submission user {name} set to [{string.Join(", ", domains)}] by {set.By}");
        }));
    }

    public override string PersistenceId => "aytrack-users";

    public static Props Props(TimeProvider clock) => Akka.Actor.Props.Create(() => new UsersActor(clock));

    private void Handle(UserCommands.AddUser add)
    {
        if (UserDirectory.NameProblem(add.Name) is { } nameProblem)
        {
            Sender.Tell(new UserReplies.Rejected("name", nameProblem));
            return;
        }

        if (_users.Find(add.Name) is not null)
        {
            Sender.Tell(new UserReplies.Rejected("name", $"a user named {add.Name} exists already"));
            return;
        }

        if (_users.Count >= UserDirectory.MaxUsers)
        {
            Sender.Tell(new UserReplies.Rejected("name", $"at most {UserDirectory.MaxUsers} users"));
            return;
        }

        if (!UserDirectory.TryNormalizeDomains(add.SenderDomains, out var domains, out var problem))
        {
            Sender.Tell(new UserReplies.Rejected("senderDomains", problem!));
            return;
        }

        if (!LooksHashed(add.PasswordHash))
        {
            return;
        }

        var now = _clock.GetUtcNow();
        var user = new SubmissionUser(add.Name, add.PasswordHash, domains, now, now);
        PersistAndPublish(new UserEvents.Added(user, add.By), Apply,
            $"Submission user {add.Name} added by {add.By}{(domains.Count > 0 ? $", sender domains [{string.Join(", ", domains)}]" : string.Empty)}");
    }

    /// <summary>A clear password must never reach the journal: only the encoded KDF output is taken.</summary>
    private bool LooksHashed(string hash)
    {
        // Bounded too: the message may come from another node, and the hash is kept in memory on every node.
        if (hash.Length <= 256 && hash.StartsWith("pbkdf2-sha256$", StringComparison.Ordinal) && hash.Split('$').Length == 4)
        {
            return true;
        }

        Sender.Tell(new UserReplies.Rejected("password", "not a password hash"));
        return false;
    }

    private void OnExisting(string name, Action<string> act)
    {
        if (_users.Find(name) is null)
        {
            Sender.Tell(new UserReplies.NotFound(name));
            return;
        }

        act(name);
    }

    protected override string Topic => UsersPublished.Topic;

    protected override object Publication(UserReplies.Users current) => new UsersPublished(current.Version, current.Entries);

    protected override UserReplies.Users Current() => new(_version, _users.Users);

    private void Apply(UserEvents.Added e)
    {
        _users = _users.With(e.User);
        _version++;
    }

    private void Apply(UserEvents.Removed e)
    {
        _users = _users.Without(e.Name);
        _version++;
    }

    private void Apply(UserEvents.PasswordChanged e)
    {
        if (_users.Find(e.Name) is { } user)
        {
            _users = _users.With(user with { PasswordHash = e.PasswordHash, UpdatedAt = e.At });
        }

        _version++;
    }

    private void Apply(UserEvents.SenderDomainsChanged e)
    {
        if (_users.Find(e.Name) is { } user)
        {
            _users = _users.With(user with { SenderDomains = e.SenderDomains, UpdatedAt = e.At });
        }

        _version++;
    }
}
