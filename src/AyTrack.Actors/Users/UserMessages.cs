using AyTrack.Core.Users;

namespace AyTrack.Actors.Users;

/// <summary>
/// Messages of the users actor, a cluster singleton. A password crosses the cluster only as its slow hash
/// (<see cref="PasswordHashing"/>), made on the node where the HTTP request arrived: no message carries a clear password.
/// </summary>
public static class UserCommands
{
    public sealed record GetUsers;

    public sealed record AddUser(string Name, string PasswordHash, IReadOnlyList<string> SenderDomains, string By);

    public sealed record RemoveUser(string Name, string By);

    public sealed record SetPassword(string Name, string PasswordHash, string By);

    public sealed record SetSenderDomains(string Name, IReadOnlyList<string> SenderDomains, string By);
}

public static class UserReplies
{
    public sealed record Users(long Version, IReadOnlyList<SubmissionUser> Entries);

    /// <summary>The request named a field that is wrong (<see cref="Field"/> as in the API's JSON).</summary>
    public sealed record Rejected(string Field, string Problem);

    public sealed record NotFound(string Name);
}

/// <summary>Published to every node (distributed pub-sub topic <see cref="Topic"/>) after each change.</summary>
public sealed record UsersPublished(long Version, IReadOnlyList<SubmissionUser> Entries)
{
    public const string Topic = "aytrack.users";
}

public static class UserEvents
{
    public sealed record Added(SubmissionUser User, string By);

    public sealed record Removed(string Name, string By, DateTimeOffset At);

    public sealed record PasswordChanged(string Name, string PasswordHash, string By, DateTimeOffset At);

    public sealed record SenderDomainsChanged(string Name, IReadOnlyList<string> SenderDomains, string By, DateTimeOffset At);
}
