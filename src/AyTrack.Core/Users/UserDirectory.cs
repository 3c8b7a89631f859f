using AyTrack.Core.Addresses;

namespace AyTrack.Core.Users;

/// <summary>
/// The cluster's submission users and the rules for changing them, kept by the users actor and, as a copy, by each
/// node's listener (<see cref="LiveUsers"/>). Immutable: every change returns a new directory.
/// </summary>
public sealed class UserDirectory
{
    public const int MaxUsers = 10_000;
    public const int MaxSenderDomains = 100;
    public const int MaxNameLength = 128;

    private readonly Dictionary<string, SubmissionUser> _users;

    private UserDirectory(Dictionary<string, SubmissionUser> users) => _users = users;

    public static UserDirectory Empty { get; } = new(new Dictionary<string, SubmissionUser>(StringComparer.Ordinal));

    public IReadOnlyList<SubmissionUser> Users => [.. _users.Values.OrderBy(u => u.Name, StringComparer.Ordinal)];

    public int Count => _users.Count;

    public static UserDirectory Of(IEnumerable<SubmissionUser> users) =>
        new(users.ToDictionary(u => u.Name, StringComparer.Ordinal));

    public SubmissionUser? Find(string name) => _users.GetValueOrDefault(name);

    public UserDirectory With(SubmissionUser user) => new(new Dictionary<string, SubmissionUser>(_users, StringComparer.Ordinal) { [user.Name] = user });

    public UserDirectory Without(string name)
    {
        var users = new Dictionary<string, SubmissionUser>(_users, StringComparer.Ordinal);
        users.Remove(name);
        return new UserDirectory(users);
    }

    /// <summary>
    /// A user name as SASL sends it (RFC 4616 authcid): 1 to 128 printable ASCII characters without spaces, compared
    /// exactly. Mail addresses (app@example.com) are the usual choice.
    /// </summary>
    public static string? NameProblem(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            return "is required";
        }

        if (name.Length > MaxNameLength)
        {
            return $"must be at most {MaxNameLength} characters";
        }

        return name.All(c => c is > ' ' and < (char)127 && c != '/') ? null : "may use printable ASCII characters except space and '/'";
    }

    /// <summary>Normalizes a list of sender domains (lower case, A-labels, no trailing dot, no duplicates) or names the first bad one.</summary>
    public static bool TryNormalizeDomains(IEnumerable<string>? domains, out IReadOnlyList<string> normalized, out string? problem)
    {
        var result = new List<string>();
        foreach (var domain in domains ?? [])
        {
            if (!DomainName.TryNormalize(domain, out var clean, out var error))
            {
                normalized = [];
                problem = $"'{Smtp.SmtpCommandParser.Printable(domain ?? string.Empty)}' is not a domain name: {error}";
                return false;
            }

            if (!result.Contains(clean))
            {
                result.Add(clean);
            }
        }

        if (result.Count > MaxSenderDomains)
        {
            normalized = [];
            problem = $"at most {MaxSenderDomains} domains per user";
            return false;
        }

        normalized = result;
        problem = null;
        return true;
    }
}

/// <summary>
/// This node's copy of the cluster's users, read by every SMTP session that authenticates. Updated by the users
/// agent from the users actor's publications; a publication older than what is held is ignored.
/// </summary>
public sealed class LiveUsers
{
    // -1 until the users actor has answered once: until then no login can be checked (454, not 535).
    private volatile Snapshot _current = new(-1, UserDirectory.Empty);

    private sealed record Snapshot(long Version, UserDirectory Directory);

    public long Version => _current.Version;

    public bool Loaded => _current.Version >= 0;

    public UserDirectory Directory => _current.Directory;

    public bool Update(long version, IReadOnlyList<SubmissionUser> users)
    {
        if (version <= _current.Version)
        {
            return false;
        }

        _current = new Snapshot(version, UserDirectory.Of(users));
        return true;
    }

    public SubmissionUser? Find(string name) => _current.Directory.Find(name);
}
