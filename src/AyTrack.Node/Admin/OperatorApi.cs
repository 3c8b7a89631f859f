using System.Text.Json;
using System.Text.Json.Nodes;
using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Sharding;
using Akka.Hosting;
using AyTrack.Actors;
using AyTrack.Actors.Settings;
using AyTrack.Core;
using AyTrack.Core.Domains;
using AyTrack.Core.Addresses;
using AyTrack.Contracts;
using AyTrack.Core.Bounces;
using AyTrack.Core.Settings;
using AyTrack.Core.Spool;

namespace AyTrack.Node.Admin;

/// <summary>
/// The operator endpoints: settings (read, merge-patch, history), threads, cluster, actor tree and queues. Each has
/// one `aytrack` CLI command, sharing these request and reply types.
/// </summary>
public static class OperatorApi
{
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(10);

    public static void MapOperatorApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/settings", GetSettingsAsync);
        app.MapMethods("/api/settings", ["PATCH"], PatchSettingsAsync);
        app.MapGet("/api/settings/history", async (IRequiredActor<ConfigActor> config) =>
            Results.Ok((await config.ActorRef.Ask<ConfigReplies.History>(new ConfigCommands.GetHistory(), AskTimeout)).Entries
                .Select(e => new SettingsHistoryEntry(e.Version, e.At, e.By, e.Node, e.Changed))));
        app.MapGet("/api/settings/suggest", async (string? email, AyTrack.Smtp.Suggest.SuggestService suggest, CancellationToken cancellationToken) =>
        {
            try
            {
                var found = await suggest.SuggestAsync(email, cancellationToken);
                return Results.Ok(found.Select(s => new SuggestionView(s.Host, s.Port, s.Tls.ToString(), s.Username, s.Sources, s.Score)));
            }
            catch (ArgumentException error)
            {
                return Results.ValidationProblem(new Dictionary<string, string[]> { ["email"] = [error.Message.Split(" (Parameter")[0]] });
            }
        });
        app.MapGet("/api/threads", GetThreadsAsync);
        app.MapPost("/api/threads", PostThreadsAsync);
        app.MapGet("/api/cluster", GetClusterAsync);
        app.MapPost("/api/cluster/leave", LeaveCluster);
        app.MapPost("/api/cluster/down-unreachable", DownUnreachable);
        app.MapGet("/api/actors", (ActorSystem system) => Results.Ok(Tree(((ExtendedActorSystem)system).Guardian.Parent)));
        app.MapGet("/api/queues", GetQueuesAsync);
        app.MapGet("/api/queues/{domain}", GetQueueAsync);
        app.MapGet("/api/queues/{domain}/messages", GetMessagesAsync);
        app.MapGet("/api/deliveries", GetDeliveries);
        app.MapPost("/api/queues/{domain}/{action}", ActOnDomainAsync);
        app.MapPost("/api/messages/{id}/{action}", ActOnMessageAsync);
    }

    public static string ETag(long version) => SettingsETag.Of(version);

    private static async Task<IResult> GetSettingsAsync(HttpContext http, IRequiredActor<ConfigActor> config, string? include)
    {
        var current = await config.ActorRef.Ask<ConfigReplies.CurrentSettings>(new ConfigCommands.GetSettings(), AskTimeout);
        http.Response.Headers.ETag = ETag(current.Version);
        var document = JsonNode.Parse(current.Document)!;
        return include == "sources"
            ? Results.Ok(new SettingsWithSources(current.Version, document, current.Sources))
            : Results.Text(document.ToJsonString(), "application/json");
    }

    private static async Task<IResult> PatchSettingsAsync(HttpContext http, IRequiredActor<ConfigActor> config, ActorSystem system, SecretBox secrets)
    {
        var mediaType = http.Request.ContentType?.Split(';')[0].Trim();
        if (mediaType is not ("application/json" or "application/merge-patch+json"))
        {
            return Results.Problem("Send a JSON merge patch as application/merge-patch+json or application/json.",
                statusCode: StatusCodes.Status415UnsupportedMediaType);
        }

        long? expected = null;
        if (http.Request.Headers.IfMatch.Count > 0 && !SettingsETag.IsAny(http.Request.Headers.IfMatch.ToString()))
        {
            // The change is then made only on the version the header matched: the config actor checks it again, so a
            // change in between still gets 412.
            var current = await config.ActorRef.Ask<ConfigReplies.CurrentSettings>(new ConfigCommands.GetSettings(), AskTimeout);
            if (!SettingsETag.Matches(http.Request.Headers.IfMatch.ToString(), current.Version))
            {
                http.Response.Headers.ETag = ETag(current.Version);
                return Results.Problem("If-Match does not hold the settings' current ETag; read them again and reapply your change.",
                    statusCode: StatusCodes.Status412PreconditionFailed);
            }

            expected = current.Version;
        }

        using var reader = new StreamReader(http.Request.Body);
        var (patch, errors) = SettingsPatchSealing.Seal(await reader.ReadToEndAsync(), secrets);
        if (patch is null)
        {
            return Results.ValidationProblem(errors);
        }

        var by = AdminAuthentication.Caller(http);
        var reply = await config.ActorRef.Ask<object>(
            new ConfigCommands.ChangeSettings(patch.Patch, expected, by, Cluster.Get(system).SelfAddress.ToString()) { SealedPassword = patch.SealedPassword },
            AskTimeout);
        switch (reply)
        {
            case ConfigReplies.Changed changed:
                http.Response.Headers.ETag = ETag(changed.Settings.Version);
                return Results.Text(changed.Settings.Document, "application/json");
            case ConfigReplies.VersionConflict conflict:
                http.Response.Headers.ETag = ETag(conflict.CurrentVersion);
                return Results.Problem("The settings changed since you read them; read them again and reapply your change.",
                    statusCode: StatusCodes.Status412PreconditionFailed);
            case ConfigReplies.Rejected rejected:
                return Results.ValidationProblem(rejected.Errors);
            default:
                return Results.Problem("Unexpected reply from the config actor.", statusCode: StatusCodes.Status500InternalServerError);
        }
    }

    private static async Task<IResult> GetThreadsAsync(ActorSystem system)
    {
        var cluster = Cluster.Get(system);
        var nodes = await Task.WhenAll(cluster.State.Members.Where(m => m.Status == MemberStatus.Up).Select(async m =>
        {
            var status = await system.ActorSelection($"{m.Address}/user/settings-agent")
                .Ask<ThreadCommands.ThreadsStatus>(new ThreadCommands.GetThreads(), AskTimeout);
            return new NodeThreads(status.Node, status.Routees, status.Setting, status.Override);
        }));
        return Results.Ok(nodes);
    }

    private static async Task<IResult> PostThreadsAsync(ThreadsRequest request, ActorSystem system, IRequiredActor<ConfigActor> config, HttpContext http)
    {
        if (request.Size is not (>= 1 and <= 500))
        {
            return Results.ValidationProblem(new Dictionary<string, string[]> { ["size"] = ["must be between 1 and 500"] });
        }

        if (request.Node is { Length: > 0 } node)
        {
            var member = Cluster.Get(system).State.Members.FirstOrDefault(m => m.Address.ToString() == node && m.Status == MemberStatus.Up);
            if (member is null)
            {
                return Results.ValidationProblem(new Dictionary<string, string[]> { ["node"] = [$"'{node}' is not an up member of the cluster"] });
            }

            var status = await system.ActorSelection($"{member.Address}/user/settings-agent")
                .Ask<ThreadCommands.ThreadsStatus>(new ThreadCommands.OverrideThreads(request.Size.Value), AskTimeout);
            return Results.Ok(new NodeThreads(status.Node, status.Routees, status.Setting, status.Override));
        }

        var patch = new JsonObject { ["timing"] = new JsonObject { ["threads"] = request.Size.Value } }.ToJsonString();
        var reply = await config.ActorRef.Ask<object>(new ConfigCommands.ChangeSettings(patch, null,
            AdminAuthentication.Caller(http), Cluster.Get(system).SelfAddress.ToString()), AskTimeout);
        return reply is ConfigReplies.Changed
            ? Results.Accepted("/api/threads", new { setting = request.Size.Value })
            : Results.Problem("The change was not applied.", statusCode: StatusCodes.Status500InternalServerError);
    }

    private static async Task<IResult> GetClusterAsync(ActorSystem system, IRequiredActor<DomainRegion> region)
    {
        var cluster = Cluster.Get(system);
        var state = cluster.State;
        var self = cluster.SelfAddress;
        var shards = new Dictionary<Address, int>();
        try
        {
            var stats = await region.ActorRef.Ask<ClusterShardingStats>(new GetClusterShardingStats(TimeSpan.FromSeconds(3)), AskTimeout);
            // The local region reports itself under the local address (no host): count it as this node's.
            shards = stats.Regions.ToDictionary(r => r.Key.HasGlobalScope ? r.Key : self, r => r.Value.Stats.Count);
        }
        catch (Exception error) when (error is TimeoutException or AskTimeoutException)
        {
            // Shard counts are a convenience; the membership view stands without them.
        }

        var members = state.Members.Select(m => new ClusterMember(m.Address.ToString(), m.Status.ToString(), m.Roles.ToList(),
            !state.Unreachable.Contains(m), shards.GetValueOrDefault(m.Address), m.Address == self)).ToList();
        return Results.Ok(new ClusterView(self.ToString(), state.Leader?.ToString(), members));
    }

    /// <summary>
    /// A graceful leave: the member hands its shards and the config singleton over, then shuts down (its process
    /// exits through coordinated shutdown). Any member can ask it for any other.
    /// </summary>
    private static IResult LeaveCluster(ClusterLeaveRequest request, ActorSystem system)
    {
        var cluster = Cluster.Get(system);
        var member = cluster.State.Members.FirstOrDefault(m => m.Address.ToString() == request.Address?.Trim());
        if (member is null)
        {
            return Results.ValidationProblem(new Dictionary<string, string[]>
            {
                ["address"] = [$"'{request.Address}' is not a member of the cluster; `aytrack cluster show` lists them"],
            });
        }

        cluster.Leave(member.Address);
        return Results.Accepted("/api/cluster", new ClusterActionResult("leave", [member.Address.ToString()]));
    }

    /// <summary>
    /// Downs every member this node sees as unreachable: for an operator who knows those machines are gone and does
    /// not want to wait for the split brain resolver. Their shards move to the remaining members.
    /// </summary>
    private static IResult DownUnreachable(ActorSystem system)
    {
        var cluster = Cluster.Get(system);
        var unreachable = cluster.State.Unreachable.Select(m => m.Address).ToList();
        foreach (var address in unreachable)
        {
            cluster.Down(address);
        }

        return Results.Ok(new ClusterActionResult("down", unreachable.Select(a => a.ToString()).ToList()));
    }

    private static async Task<IResult> GetQueuesAsync(ISpool spool, IRequiredActor<DomainRegion> region, BounceClassifier classifier)
    {
        var counts = await spool.CountAsync(CancellationToken.None);
        var domains = await spool.PendingDomainsAsync(CancellationToken.None);
        var queues = await Task.WhenAll(domains.Select(d => QueueAsync(region.ActorRef, d, classifier)));
        return Results.Ok(new QueuesView(counts.Undispatched, queues.OrderBy(q => q.Domain, StringComparer.Ordinal).ToList()));
    }

    private static async Task<IResult> GetQueueAsync(string domain, IRequiredActor<DomainRegion> region, BounceClassifier classifier)
    {
        if (!DomainName.TryNormalize(domain, out var normalized, out var error))
        {
            return Results.ValidationProblem(new Dictionary<string, string[]> { ["domain"] = [error] });
        }

        return Results.Ok(await QueueAsync(region.ActorRef, new RecipientDomain(normalized), classifier));
    }

    private static async Task<IResult> GetMessagesAsync(string domain, int? limit, IRequiredActor<DomainRegion> region, BounceClassifier classifier)
    {
        if (!DomainName.TryNormalize(domain, out var normalized, out var error))
        {
            return Results.ValidationProblem(new Dictionary<string, string[]> { ["domain"] = [error] });
        }

        if (limit is < 1 or > 1000)
        {
            return Results.ValidationProblem(new Dictionary<string, string[]> { ["limit"] = ["must be between 1 and 1000"] });
        }

        var list = await region.ActorRef.Ask<DomainQueries.QueueMessages>(new DomainQueries.GetMessages(new RecipientDomain(normalized), limit ?? 100), AskTimeout);
        return Results.Ok(new DomainMessages(list.Domain.Value, list.Total, list.Messages.Select(m => new QueuedMessageEntry(m.Id.Value, m.ArrivedAt,
            m.Recipients.Select(r => new QueuedRecipient(r.Address, r.State.ToString(), r.Attempts, r.LastReply,
                r.LastReply is { Length: > 0 } reply ? classifier.Classify(reply).ToString() : null, r.NextAttemptAt, r.Held)).ToList())).ToList()));
    }

    /// <summary>The outcomes a delivery-log line can have, the only values ?outcome= takes.</summary>
    private static readonly IReadOnlySet<string> Outcomes = new HashSet<string>(
        ["delivered", "deferred", "failed", "held", "bounced", "failed-not-bounced", "delay-warned", "relayed", "deleted"], StringComparer.Ordinal);

    private static IResult GetDeliveries(string? domain, string? outcome, int? limit, AyTrack.Smtp.Logging.DeliveryLog log)
    {
        var errors = new Dictionary<string, string[]>();
        string? normalized = null;
        if (!string.IsNullOrEmpty(domain) && !DomainName.TryNormalize(domain, out normalized, out var problem))
        {
            errors["domain"] = [problem];
        }

        if (!string.IsNullOrEmpty(outcome) && !Outcomes.Contains(outcome))
        {
            errors["outcome"] = [$"must be one of {string.Join(", ", Outcomes.Order(StringComparer.Ordinal))}"];
        }

        if (limit is < 1 or > 500)
        {
            errors["limit"] = ["must be between 1 and 500"];
        }

        if (errors.Count > 0)
        {
            return Results.ValidationProblem(errors);
        }

        return Results.Ok(log.Recent(normalized, string.IsNullOrEmpty(outcome) ? null : outcome, limit ?? 50).Select(e => new DeliveryEntry(e.Time,
            e.QueueId, e.MessageId, e.Recipient, e.Outcome, e.Reply, e.MxHost, e.Ip, e.Tls, e.Attempt, e.Route, e.Category, e.MtaSts, e.User)
        {
            Site = e.Site,
            Until = e.Until,
        }));
    }

    private static async Task<IResult> ActOnDomainAsync(string domain, string action, IRequiredActor<DomainRegion> region)
    {
        if (!EnumNames.TryParse<QueueOperation>(action, out var operation))
        {
            return UnknownAction(action);
        }

        if (!DomainName.TryNormalize(domain, out var normalized, out var error))
        {
            return Results.ValidationProblem(new Dictionary<string, string[]> { ["domain"] = [error] });
        }

        var done = await region.ActorRef.Ask<DomainCommands.QueueActionDone>(
            new DomainCommands.QueueAction(new RecipientDomain(normalized), null, operation), AskTimeout);
        return Results.Ok(new QueueActionResult(operation.ToString(), done.Recipients));
    }

    private static async Task<IResult> ActOnMessageAsync(string id, string action, ISpool spool, IRequiredActor<DomainRegion> region)
    {
        if (!EnumNames.TryParse<QueueOperation>(action, out var operation))
        {
            return UnknownAction(action);
        }

        var message = await spool.LoadAsync(new QueueId(id), CancellationToken.None);
        if (message is null)
        {
            return Results.Problem($"No queued message has the id {id}.", statusCode: StatusCodes.Status404NotFound);
        }

        var results = await Task.WhenAll(message.Envelope.Recipients.Select(r => r.Domain).Distinct().Select(domain =>
            region.ActorRef.Ask<DomainCommands.QueueActionDone>(new DomainCommands.QueueAction(domain, message.Envelope.Id, operation), AskTimeout)));
        return Results.Ok(new QueueActionResult(operation.ToString(), results.Sum(r => r.Recipients)));
    }

    /// <summary>Who made a change, for the audit history: the client's own name (the CLI sends one) and its address.</summary>
    private static IResult UnknownAction(string action) => Results.ValidationProblem(new Dictionary<string, string[]>
    {
        ["action"] = [$"'{action}' is not one of retry, hold, release, delete, bounce"],
    });

    private static async Task<DomainQueue> QueueAsync(IActorRef region, RecipientDomain domain, BounceClassifier classifier)
    {
        var status = await region.Ask<DomainQueries.QueueStatus>(new DomainQueries.GetQueue(domain), AskTimeout);
        return new DomainQueue(status.Domain.Value, status.Pending, status.Deferred, status.Bouncing, status.InFlightSessions,
            status.Oldest, status.NextAttempt, status.LastError)
        {
            Held = status.Held,
            LastCategory = status.LastError is { Length: > 0 } last ? classifier.Classify(last).ToString() : null,
        };
    }

    /// <summary>The live actor tree below <paramref name="actor"/>, read from the actor cells (what `pbm actor hierarchy` shows).</summary>
    private static ActorNode Tree(IActorRef actor)
    {
        var children = actor is ActorRefWithCell withCell
            ? withCell.Children.OrderBy(c => c.Path.Name, StringComparer.Ordinal).Select(Tree).ToList()
            : [];
        return new ActorNode(actor.Path.Name, actor.Path.ToStringWithoutAddress(), children);
    }
}
