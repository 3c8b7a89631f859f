using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Event;
using AyTrack.Core.Users;

namespace AyTrack.Actors.Users;

/// <summary>
/// One per node: keeps <see cref="LiveUsers"/> equal to the users actor's users. Publications are the fast path; a slow
/// poll catches one sent before this node's subscription had spread (as the settings and DKIM agents do).
/// </summary>
public sealed class UsersAgent : ReceiveActor, IWithTimers
{
    private static readonly TimeSpan ReconcileEvery = TimeSpan.FromSeconds(5);
    private readonly IActorRef _users;
    private readonly ILoggingAdapter _log = Context.GetLogger();

    public UsersAgent(IActorRef users, LiveUsers live)
    {
        _users = users;
        Receive<UsersPublished>(p => Apply(live, p.Version, p.Entries));
        Receive<UserReplies.Users>(u =>
        {
            Timers.StartPeriodicTimer("fetch", Fetch.Instance, ReconcileEvery, ReconcileEvery);
            Apply(live, u.Version, u.Entries);
        });
        // A plain Tell (see SettingsAgent): the answer comes here whenever the singleton is ready.
        Receive<Fetch>(_ => _users.Tell(new UserCommands.GetUsers()));
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(IActorRef users, LiveUsers live) => Akka.Actor.Props.Create(() => new UsersAgent(users, live));

    protected override void PreStart()
    {
        DistributedPubSub.Get(Context.System).Mediator.Tell(new Subscribe(UsersPublished.Topic, Self));
        Timers.StartPeriodicTimer("fetch", Fetch.Instance, TimeSpan.Zero, TimeSpan.FromSeconds(2));
    }

    private void Apply(LiveUsers live, long version, IReadOnlyList<SubmissionUser> users)
    {
        if (live.Update(version, users))
        {
            _log.Info("Submission users version {0}: {1} user(s)", version, users.Count);
        }
    }

    private sealed record Fetch
    {
        public static Fetch Instance { get; } = new();
    }
}
