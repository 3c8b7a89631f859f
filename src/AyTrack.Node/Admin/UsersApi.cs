using Akka.Actor;
using Akka.Hosting;
using AyTrack.Actors.Users;
using AyTrack.Contracts;
using AyTrack.Core.Users;

namespace AyTrack.Node.Admin;

/// <summary>
/// /api/users: the cluster's submission logins. A password is hashed here, on the node that takes the request, with
/// <see cref="PasswordHashing"/>: no actor message, journal row or reply ever holds it in clear, and no reply holds its hash.
/// </summary>
public static class UsersApi
{
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(10);

    public static void MapUsersApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/users", async (IRequiredActor<UsersActor> users) =>
        {
            var current = await users.ActorRef.Ask<UserReplies.Users>(new UserCommands.GetUsers(), AskTimeout);
            return Results.Ok(current.Entries.Select(View));
        });
        app.MapGet("/api/users/{name}", async (string name, IRequiredActor<UsersActor> users) =>
        {
            var current = await users.ActorRef.Ask<UserReplies.Users>(new UserCommands.GetUsers(), AskTimeout);
            return current.Entries.FirstOrDefault(u => u.Name == name) is { } user
                ? Results.Ok(View(user))
                : NotFound(name);
        });
        app.MapPost("/api/users", AddAsync);
        app.MapDelete("/api/users/{name}", async (string name, IRequiredActor<UsersActor> users, LiveUsers live, HttpContext http) =>
            Answer(live, await users.ActorRef.Ask<object>(new UserCommands.RemoveUser(name, AdminAuthentication.Caller(http)), AskTimeout), name,
                _ => Results.NoContent()));
        app.MapPut("/api/users/{name}/password", async (string name, PasswordRequest request, IRequiredActor<UsersActor> users, LiveUsers live,
            HttpContext http) =>
        {
            if (PasswordHashing.Problem(request.Password) is { } problem)
            {
                return Invalid("password", problem);
            }

            var hash = await Task.Run(() => PasswordHashing.Hash(request.Password!));
            return Answer(live, await users.ActorRef.Ask<object>(new UserCommands.SetPassword(name, hash, AdminAuthentication.Caller(http)), AskTimeout),
                name, user => Results.Ok(View(user!)));
        });
        app.MapPut("/api/users/{name}/sender-domains", async (string name, SenderDomainsRequest request, IRequiredActor<UsersActor> users,
            LiveUsers live, HttpContext http) =>
        {
            if (!UserDirectory.TryNormalizeDomains(request.SenderDomains, out var domains, out var problem))
            {
                return Invalid("senderDomains", problem!);
            }

            return Answer(live, await users.ActorRef.Ask<object>(new UserCommands.SetSenderDomains(name, domains, AdminAuthentication.Caller(http)), AskTimeout),
                name, user => Results.Ok(View(user!)));
        });
    }

    public static UserView View(SubmissionUser user) => new(user.Name, user.SenderDomains, user.CreatedAt, user.UpdatedAt);

    private static async Task<IResult> AddAsync(UserRequest request, IRequiredActor<UsersActor> users, LiveUsers live, HttpContext http)
    {
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        if (UserDirectory.NameProblem(request.Name) is { } nameProblem)
        {
            errors["name"] = [nameProblem];
        }

        if (PasswordHashing.Problem(request.Password) is { } passwordProblem)
        {
            errors["password"] = [passwordProblem];
        }

        if (!UserDirectory.TryNormalizeDomains(request.SenderDomains, out var domains, out var domainProblem))
        {
            errors["senderDomains"] = [domainProblem!];
        }

        if (errors.Count > 0)
        {
            return Results.ValidationProblem(errors);
        }

        // The slow KDF runs off the request thread; the actor only ever sees its output.
        var hash = await Task.Run(() => PasswordHashing.Hash(request.Password!));
        var reply = await users.ActorRef.Ask<object>(new UserCommands.AddUser(request.Name!, hash, domains, AdminAuthentication.Caller(http)), AskTimeout);
        return Answer(live, reply, request.Name!, user => Results.Created($"/api/users/{Uri.EscapeDataString(user!.Name)}", View(user)));
    }

    /// <summary>
    /// The actor's answer as HTTP. A change's answer carries all users: this node takes it at once, so a login right after
    /// the request succeeds here (other nodes follow within the publication's delay).
    /// </summary>
    private static IResult Answer(LiveUsers live, object reply, string name, Func<SubmissionUser?, IResult> changed)
    {
        switch (reply)
        {
            case UserReplies.Users current:
                live.Update(current.Version, current.Entries);
                return changed(current.Entries.FirstOrDefault(u => u.Name == name));
            case UserReplies.NotFound:
                return NotFound(name);
            case UserReplies.Rejected rejected:
                return Invalid(rejected.Field, rejected.Problem);
            default:
                return Results.Problem("Unexpected reply from the users actor.", statusCode: StatusCodes.Status500InternalServerError);
        }
    }

    private static IResult NotFound(string name) =>
        Results.Problem($"there is no submission user named {AyTrack.Core.Smtp.SmtpCommandParser.Printable(name)}", statusCode: StatusCodes.Status404NotFound);

    private static IResult Invalid(string field, string problem) =>
        Results.ValidationProblem(new Dictionary<string, string[]> { [field] = [problem] });
}
