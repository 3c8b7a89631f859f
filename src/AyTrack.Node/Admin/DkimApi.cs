using Akka.Actor;
using Akka.Hosting;
using AyTrack.Actors.Dkim;
using AyTrack.Contracts;
using AyTrack.Core.Dkim;
using AyTrack.Core.Settings;

namespace AyTrack.Node.Admin;

/// <summary>
/// /api/dkim: the cluster's DKIM keys. A key is generated on the node that takes the request and its private part is
/// sealed there at once, so it crosses the cluster and reaches the journal only sealed; no reply ever carries it.
/// </summary>
public static class DkimApi
{
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(10);

    public static void MapDkimApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/dkim", async (string? domain, IRequiredActor<DkimKeysActor> keys) =>
        {
            var current = await keys.ActorRef.Ask<DkimReplies.Keys>(new DkimCommands.GetKeys(), AskTimeout);
            var wanted = domain?.Trim().TrimEnd('.').ToLowerInvariant();
            return Results.Ok(current.Entries.Where(k => wanted is null || k.Domain == wanted)
                .OrderBy(k => k.Domain, StringComparer.Ordinal).ThenBy(k => k.Selector, StringComparer.Ordinal).Select(View));
        });
        app.MapPost("/api/dkim", AddAsync);
        app.MapPost("/api/dkim/{domain}/{selector}/activate", (string domain, string selector, IRequiredActor<DkimKeysActor> keys, HttpContext http) =>
            ChangeAsync(keys.ActorRef, new DkimCommands.ActivateKey(domain, selector, AdminAuthentication.Caller(http)), domain, selector));
        app.MapDelete("/api/dkim/{domain}/{selector}", (string domain, string selector, IRequiredActor<DkimKeysActor> keys, HttpContext http) =>
            ChangeAsync(keys.ActorRef, new DkimCommands.RemoveKey(domain, selector, AdminAuthentication.Caller(http)), domain, selector));
    }

    public static DkimKeyView View(DkimKeyEntry key) => new(key.Domain, key.Selector, key.Algorithm == DkimAlgorithm.Rsa ? "rsa" : "ed25519",
        key.Active, key.CreatedAt, key.DnsName, DkimDnsRecord.Value(key), DkimDnsRecord.ZoneLine(key));

    private static async Task<IResult> AddAsync(DkimKeyRequest request, IRequiredActor<DkimKeysActor> keys, SecretBox secrets, HttpContext http)
    {
        var algorithm = (request.Algorithm ?? "rsa").Trim().ToLowerInvariant() switch
        {
            "rsa" => DkimAlgorithm.Rsa,
            "ed25519" => (DkimAlgorithm?)DkimAlgorithm.Ed25519,
            _ => null,
        };
        if (algorithm is null)
        {
            return Results.ValidationProblem(new Dictionary<string, string[]> { ["algorithm"] = ["must be rsa or ed25519"] });
        }

        if (!DkimKeyring.TryNormalize(request.Domain, request.Selector, out var domain, out var selector, out var problem))
        {
            return Results.ValidationProblem(new Dictionary<string, string[]> { [problem!.Value.Field] = [problem.Value.Problem] });
        }

        var pair = DkimKeyMaterial.Generate(algorithm.Value);
        var sealedKey = secrets.Seal(new Secret(pair.PrivateKeyPem));
        var reply = await keys.ActorRef.Ask<object>(
            new DkimCommands.AddKey(domain, selector, algorithm.Value, pair.PublicKey, sealedKey, AdminAuthentication.Caller(http)), AskTimeout);
        return reply switch
        {
            DkimReplies.Keys current when current.Entries.FirstOrDefault(k => k.Domain == domain && k.Selector == selector) is { } added =>
                Results.Created($"/api/dkim?domain={domain}", View(added)),
            DkimReplies.Rejected rejected => Results.ValidationProblem(new Dictionary<string, string[]> { [rejected.Field] = [rejected.Problem] }),
            _ => Results.Problem("Unexpected reply from the DKIM key actor.", statusCode: StatusCodes.Status500InternalServerError),
        };
    }

    private static async Task<IResult> ChangeAsync(IActorRef keys, object command, string domain, string selector)
    {
        var reply = await keys.Ask<object>(command, AskTimeout);
        return reply switch
        {
            DkimReplies.Keys current => Results.Ok(current.Entries
                .Where(k => k.Domain == (AyTrack.Core.Addresses.DomainName.TryNormalize(domain, out var normalized, out _) ? normalized : domain))
                .Select(View)),
            DkimReplies.NotFound missing => Results.Problem($"{missing.Domain} has no DKIM key with selector {missing.Selector}",
                statusCode: StatusCodes.Status404NotFound),
            DkimReplies.Rejected rejected => Results.ValidationProblem(new Dictionary<string, string[]> { [rejected.Field] = [rejected.Problem] }),
            _ => Results.Problem("Unexpected reply from the DKIM key actor.", statusCode: StatusCodes.Status500InternalServerError),
        };
    }
}
