using Akka.Actor;
using Akka.Event;
using AyTrack.Core.Users;

namespace AyTrack.Actors.Users;

/// <summary>One per node: keeps <see cref="LiveUsers"/> equal to the users actor's users.</summary>
public sealed class UsersAgent(IActorRef users, LiveUsers live)
    : MirrorAgent<UsersPublished, UserReplies.Users>(users, UsersPublished.Topic, new UserCommands.GetUsers())
{
    private readonly ILoggingAdapter _log = Context.GetLogger();

    public static Props Props(IActorRef users, LiveUsers live) => Akka.Actor.Props.Create(() => new UsersAgent(users, live));

    protected override void Apply(UsersPublished published) => Apply(published.Version, published.Entries);

    protected override void Apply(UserReplies.Users current) => Apply(current.Version, current.Entries);

    private void Apply(long version, IReadOnlyList<SubmissionUser> users)
    {
        if (live.Update(version, users))
        {
            _log.Info("Submission users version {0}: {1} user(s)", version, users.Count);
        }
    }
}
