using Akka.Actor;
using Akka.Hosting;
using AyTrack.Actors.Shaping;
using AyTrack.Contracts;
using AyTrack.Core.Shaping;

namespace AyTrack.Node.Admin;

/// <summary>
/// /api/sites and /api/shaping: the destination sites of this node (connections, limits and why, rate, suspensions),
/// an operator's suspend and resume, and a reload of the shaping rules. Twins of `aytrack site …` and `aytrack shaping reload`.
/// </summary>
public static class SitesApi
{
    private const int DefaultListed = 200;
    private const int MaxListed = 5000;

    public static void MapSitesApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/sites", (int? limit, LiveShaping shaping, Akka.Actor.ActorSystem system) =>
        {
            if (limit is < 1 or > MaxListed)
            {
                return Results.ValidationProblem(new Dictionary<string, string[]> { ["limit"] = [$"must be between 1 and {MaxListed}"] });
            }

            // Busiest first; a node that sent to 100,000 sites in the last hour answers with the first `limit`.
            return Results.Ok(new SitesView(Akka.Cluster.Cluster.Get(system).SelfAddress.ToString(), shaping.UpNodes,
                shaping.Limiter.All().Take(limit ?? DefaultListed).Select(View).ToList()));
        });
        app.MapGet("/api/sites/{site}", (string site, LiveShaping shaping) =>
            shaping.Limiter.Status(site) is { } status
                ? Results.Ok(View(status))
                : Results.Problem($"This node has not used the site '{site}' in the last hour and holds nothing for it.", statusCode: StatusCodes.Status404NotFound));
        app.MapPost("/api/sites/{site}/suspend", Suspend);
        app.MapPost("/api/sites/{site}/resume", (string site, ShapingService service, LiveShaping shaping, IRequiredActor<SitesAgent> agent,
            Akka.Actor.ActorSystem system, HttpContext http) =>
        {
            if (SiteNames.Problem(site) is { } problem)
            {
                return Results.ValidationProblem(new Dictionary<string, string[]> { ["site"] = [problem] });
            }

            var reason = $"resumed by {AdminAuthentication.Caller(http)}";
            if (service.Resume(site, reason) is null)
            {
                return Results.Problem($"The site '{site}' is not suspended on this node.", statusCode: StatusCodes.Status409Conflict);
            }

            agent.ActorRef.Tell(new SitesAgent.Broadcast(new SiteCommands.Resume(site, reason, Akka.Cluster.Cluster.Get(system).SelfAddress.ToString())));
            return Results.Ok(View(shaping.Limiter.Status(site)!));
        });
        app.MapPost("/api/shaping/reload", (ShapingService service) =>
        {
            var (reloaded, entries, problem) = service.Reload();
            return reloaded
                ? Results.Ok(new ShapingReloadResult(true, entries, null))
                : Results.Problem(problem, title: "The shaping rules were not reloaded; the rules in force stay.", statusCode: StatusCodes.Status400BadRequest);
        });
    }

    private static IResult Suspend(string site, SiteSuspendRequest request, ShapingService service, LiveShaping shaping,
        IRequiredActor<SitesAgent> agent, Akka.Actor.ActorSystem system, HttpContext http)
    {
        var errors = new Dictionary<string, string[]>();
        if (SiteNames.Problem(site) is { } problem)
        {
            errors["site"] = [problem];
        }

        if (!ShapingDuration.TryParse(request.For, out var duration))
        {
            errors["for"] = [$"must be a duration such as 30s, 15m, 2h or 1d, at most {ShapingDuration.Format(ShapingDuration.Max)}"];
        }

        var reason = request.Reason?.Trim() ?? string.Empty;
        if (!SiteNames.IsReason(reason, SiteNames.MaxReason))
        {
            errors["reason"] = [$"must be at most {SiteNames.MaxReason} characters on one line"];
        }

        if (errors.Count > 0)
        {
            return Results.ValidationProblem(errors);
        }

        var by = AdminAuthentication.Caller(http);
        if (service.Suspend(site, duration, reason.Length > 0 ? $"{reason} (by {by})" : $"suspended by {by}") is not { } change)
        {
            return Results.Problem($"This node already holds {SiteNames.MaxRestricted} suspended or reduced sites; resume some first.",
                statusCode: StatusCodes.Status409Conflict);
        }

        // The other nodes pause the site too: an operator's pause is the cluster's (limits stay per node).
        agent.ActorRef.Tell(new SitesAgent.Broadcast(new SiteCommands.Suspend(site, change.Until!.Value, change.Reason,
            Akka.Cluster.Cluster.Get(system).SelfAddress.ToString())));
        return Results.Ok(View(shaping.Limiter.Status(site)!));
    }

    private static SiteView View(SiteStatus s) => new(s.Site, s.Domains, s.Open, s.Idle, s.Limit, s.LimitReason, s.Rate?.ToString(),
        s.SuspendedUntil, s.SuspendedBecause, s.ReducedUntil, s.Waiting, s.LastUsed);
}
