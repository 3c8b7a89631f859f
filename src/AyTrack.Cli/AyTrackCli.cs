using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using AyTrack.Contracts;

namespace AyTrack.Cli;

/// <summary>
/// The `aytrack` command palettes (in the manner of Petabridge's pbm): settings, threads, actor, cluster, queue.
/// Each command calls one admin API endpoint.
/// </summary>
public static class AyTrackCli
{
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error)
    {
        var url = new Option<string?>("--url") { Description = "Admin API of the node (default: AYTRACK_URL, <data-dir>/node.json, http://127.0.0.1:8025)", Recursive = true };
        var token = new Option<string?>("--token") { Description = "Bearer token (default: AYTRACK_TOKEN, then <data-dir>/admin.token)", Recursive = true };
        var dataDir = new Option<string>("--data-dir") { Description = "The node's data directory", DefaultValueFactory = _ => "./data", Recursive = true };
        var json = new Option<bool>("--json") { Description = "Print the endpoint's JSON instead of a table", Recursive = true };

        var root = new RootCommand("aytrack: operate an AyTrack node (settings, threads, actors, cluster, queues)");
        root.Options.Add(url);
        root.Options.Add(token);
        root.Options.Add(dataDir);
        root.Options.Add(json);

        AdminClient Client(ParseResult p) => new(p.GetValue(url), p.GetValue(token), p.GetValue(dataDir)!);

        // settings
        var settings = new Command("settings", "Read and change the Mail Sending Settings");
        var show = new Command("show", "Every setting with its value and where it came from");
        show.SetAction(p => Run(p, error, async () =>
        {
            using var client = Client(p);
            var reply = await client.GetAsync<SettingsWithSources>("/api/settings?include=sources");
            output.Write(p.GetValue(json)
                ? reply.Settings.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + Environment.NewLine
                : $"version {reply.Version}{Environment.NewLine}" + Output.Table(["setting", "value", "source"],
                    Flatten(reply.Settings).Select(kv => (IReadOnlyList<string?>)[kv.Key, kv.Value, reply.Sources.GetValueOrDefault(kv.Key)])));
        }));
        var pairs = new Argument<string[]>("key=value") { Description = "Dotted keys, e.g. timing.threads=20 relay.tls=StartTls; lists as JSON", Arity = ArgumentArity.OneOrMore };
        var set = new Command("set", "Change settings (a JSON merge patch built from key=value pairs)") { pairs };
        set.SetAction(p => Run(p, error, async () =>
        {
            var patch = BuildPatch(p.GetValue(pairs)!);
            using var client = Client(p);
            var after = await client.PatchAsync<JsonElement>("/api/settings", patch.ToJsonString());
            if (p.GetValue(json))
            {
                output.WriteLine(JsonSerializer.Serialize(after, new JsonSerializerOptions { WriteIndented = true }));
                return;
            }

            var values = Flatten(JsonNode.Parse(after.GetRawText())!);
            foreach (var key in Flatten(patch).Keys)
            {
                var shown = key == "relay.password" ? "relay.passwordSet" : key;
                output.WriteLine($"{shown} = {values.GetValueOrDefault(shown, "-")}");
            }
        }));
        var history = new Command("history", "Who changed what, when, from which node");
        history.SetAction(p => Run(p, error, async () =>
        {
            using var client = Client(p);
            var entries = await client.GetAsync<List<SettingsHistoryEntry>>("/api/settings/history");
            output.Write(p.GetValue(json)
                ? JsonSerializer.Serialize(entries, AdminClient.Json) + Environment.NewLine
                : Output.Table(["version", "at (UTC)", "by", "node", "changed"], entries.Select(e => (IReadOnlyList<string?>)
                    [e.Version.ToString(CultureInfo.InvariantCulture), e.At.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture), e.By, e.Node, string.Join(", ", e.Changed)])));
        }));
        settings.Subcommands.Add(show);
        settings.Subcommands.Add(set);
        settings.Subcommands.Add(history);
        root.Subcommands.Add(settings);

        // threads
        var threads = new Command("threads", "SMTP worker pool size per node (live routee count)");
        threads.SetAction(p => Run(p, error, async () =>
        {
            using var client = Client(p);
            var nodes = await client.GetAsync<List<NodeThreads>>("/api/threads");
            output.Write(p.GetValue(json) ? JsonSerializer.Serialize(nodes, AdminClient.Json) + Environment.NewLine : ThreadsTable(nodes));
        }));
        var size = new Argument<int>("size") { Description = "Sessions per node, 1-500" };
        var node = new Option<string?>("--node") { Description = "Only this node (its address), until the next settings change or restart" };
        var resize = new Command("resize", "Set timing.threads (every node), or override one node with --node") { size, node };
        resize.SetAction(p => Run(p, error, async () =>
        {
            using var client = Client(p);
            var target = p.GetValue(node);
            await client.PostAsync<JsonElement>("/api/threads", new ThreadsRequest(p.GetValue(size), target));
            output.WriteLine(target is null
                ? $"timing.threads = {p.GetValue(size)} (every node resizes its pool)"
                : $"{target}: pool overridden to {p.GetValue(size)}");
        }));
        threads.Subcommands.Add(resize);
        root.Subcommands.Add(threads);

        // demo
        var demoMessages = new Option<int>("--messages") { Description = "Messages to inject", DefaultValueFactory = _ => 2000 };
        var demoSessions = new Option<int>("--sessions") { Description = "Concurrent SMTP sessions", DefaultValueFactory = _ => 10 };
        var demoMode = new Option<string>("--mode") { Description = "Direct, RelayAll or DirectThenRelay", DefaultValueFactory = _ => "Direct" };
        var demoKeep = new Option<bool>("--keep") { Description = "Keep the node's data directory (delivery.log) afterwards" };
        var demo = new Command("demo", "Run a node in a loopback world of .test domains and watch it deliver (nothing leaves this machine)")
        {
            demoMessages, demoSessions, demoMode, demoKeep,
        };
        demo.SetAction(async (p, cancellationToken) =>
        {
            if (p.GetValue(demoMode) is not ("Direct" or "RelayAll" or "DirectThenRelay") || p.GetValue(demoMessages) < 1 || p.GetValue(demoSessions) < 1)
            {
                await error.WriteLineAsync("--mode must be Direct, RelayAll or DirectThenRelay; --messages and --sessions at least 1");
                return 2;
            }

            var live = ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected;
            return await Demo.RunAsync(new Demo.Options(p.GetValue(demoMessages), p.GetValue(demoSessions), p.GetValue(demoMode)!,
                p.GetValue(demoKeep), TimeSpan.FromMinutes(3)), output, live, cancellationToken);
        });
        root.Subcommands.Add(demo);

        // actor
        var actor = new Command("actor", "The node's actors");
        var hierarchy = new Command("hierarchy", "The live actor tree of the node");
        hierarchy.SetAction(p => Run(p, error, async () =>
        {
            using var client = Client(p);
            var tree = await client.GetAsync<ActorNode>("/api/actors");
            if (p.GetValue(json))
            {
                output.WriteLine(JsonSerializer.Serialize(tree, AdminClient.Json));
                return;
            }

            var text = new StringBuilder();
            Print(tree, 0, text);
            output.Write(text.ToString());
        }));
        actor.Subcommands.Add(hierarchy);
        root.Subcommands.Add(actor);

        // cluster
        var cluster = new Command("cluster", "Cluster membership");
        var clusterShow = new Command("show", "Members, status, roles, reachability and shards hosted");
        clusterShow.SetAction(p => Run(p, error, async () =>
        {
            using var client = Client(p);
            var view = await client.GetAsync<ClusterView>("/api/cluster");
            output.Write(p.GetValue(json)
                ? JsonSerializer.Serialize(view, AdminClient.Json) + Environment.NewLine
                : Output.Table(["address", "status", "roles", "reachable", "shards", "leader"], view.Members.Select(m => (IReadOnlyList<string?>)
                    [m.Address + (m.Self ? " (this node)" : string.Empty), m.Status, string.Join(",", m.Roles), m.Reachable ? "yes" : "NO",
                        m.Shards.ToString(CultureInfo.InvariantCulture), m.Address == view.Leader ? "*" : string.Empty])));
        }));
        var memberAddress = new Argument<string>("address") { Description = "The member's address, as `cluster show` lists it" };
        var clusterLeave = new Command("leave", "Let a member leave gracefully: its shards move first, then it stops") { memberAddress };
        clusterLeave.SetAction(p => Run(p, error, async () =>
        {
            using var client = Client(p);
            var result = await client.PostAsync<ClusterActionResult>("/api/cluster/leave", new ClusterLeaveRequest(p.GetValue(memberAddress)));
            output.WriteLine($"{string.Join(", ", result.Members)} is leaving the cluster");
        }));
        var clusterDown = new Command("down-unreachable", "Down every member this node sees as unreachable (their shards move on)");
        clusterDown.SetAction(p => Run(p, error, async () =>
        {
            using var client = Client(p);
            var result = await client.PostAsync<ClusterActionResult>("/api/cluster/down-unreachable", new { });
            output.WriteLine(result.Members.Count == 0
                ? "no member is unreachable"
                : $"downed {string.Join(", ", result.Members)}");
        }));
        cluster.Subcommands.Add(clusterShow);
        cluster.Subcommands.Add(clusterLeave);
        cluster.Subcommands.Add(clusterDown);
        root.Subcommands.Add(cluster);

        // queue
        var queue = new Command("queue", "Queued mail per recipient domain");
        var domain = new Argument<string?>("domain") { Arity = ArgumentArity.ZeroOrOne, Description = "One domain only" };
        var queueShow = new Command("show", "Pending, deferred, oldest, next attempt and last error per domain") { domain };
        queueShow.SetAction(p => Run(p, error, async () =>
        {
            using var client = Client(p);
            var one = p.GetValue(domain);
            var domains = one is null
                ? await client.GetAsync<QueuesView>("/api/queues")
                : new QueuesView(0, [await client.GetAsync<DomainQueue>($"/api/queues/{Uri.EscapeDataString(one)}")]);
            if (p.GetValue(json))
            {
                output.WriteLine(JsonSerializer.Serialize(domains, AdminClient.Json));
                return;
            }

            if (one is null)
            {
                output.WriteLine($"{domains.Undispatched} recipient(s) accepted and not yet handed to their domain");
            }

            output.Write(Output.Table(["domain", "pending", "deferred", "held", "bouncing", "sessions", "oldest", "next attempt", "last error"],
                domains.Domains.Select(d => (IReadOnlyList<string?>)
                [
                    d.Domain, Count(d.Pending), Count(d.Deferred), Count(d.Held), Count(d.Bouncing), Count(d.Sessions), Time(d.Oldest),
                    Time(d.NextAttempt), d.LastError,
                ])));
        }));
        queue.Subcommands.Add(queueShow);
        foreach (var (verb, what) in new[]
                 {
                     ("retry", "Try deferred mail now"), ("hold", "Stop trying (and expiring) until released"),
                     ("release", "Undo a hold and try at once"), ("delete", "Drop without delivery or bounce"),
                     ("bounce", "Give up now and send the sender a DSN"),
                 })
        {
            var target = new Argument<string>("domain|message-id") { Description = "A recipient domain, or a queue id from the delivery log" };
            var command = new Command(verb, what + " (a domain's mail, or one message)") { target };
            command.SetAction(p => Run(p, error, async () =>
            {
                using var client = Client(p);
                var which = p.GetValue(target)!;
                // Queue ids are hexadecimal without dots; every domain has one.
                var path = which.Contains('.')
                    ? $"/api/queues/{Uri.EscapeDataString(which)}/{verb}"
                    : $"/api/messages/{Uri.EscapeDataString(which)}/{verb}";
                var result = await client.PostAsync<QueueActionResult>(path, new { });
                output.WriteLine(p.GetValue(json)
                    ? JsonSerializer.Serialize(result, AdminClient.Json)
                    : $"{result.Operation}: {result.Recipients} recipient(s) of {which}");
            }));
            queue.Subcommands.Add(command);
        }
        root.Subcommands.Add(queue);

        // certs
        var certs = new Command("certs", "Certificates trusted for the external server beyond the system's");
        var certsList = new Command("list", "Trusted CAs and pinned server certificates");
        certsList.SetAction(p => Run(p, error, async () =>
        {
            using var client = Client(p);
            var list = await client.GetAsync<List<TrustedCertificateView>>("/api/certs");
            output.Write(p.GetValue(json)
                ? JsonSerializer.Serialize(list, AdminClient.Json) + Environment.NewLine
                : Output.Table(["kind", "sha256", "subject", "not after"], list.Select(c => (IReadOnlyList<string?>)[c.Kind, c.Sha256, c.Subject, Time(c.NotAfter)])));
        }));
        var file = new Argument<FileInfo>("file") { Description = "PEM file" };
        var kind = new Option<string>("--kind") { Description = "Ca (trust certificates it issued) or Pinned (trust exactly this one)", DefaultValueFactory = _ => "Ca" };
        var certsAdd = new Command("add", "Trust a certificate from a PEM file") { file, kind };
        certsAdd.SetAction(p => Run(p, error, async () =>
        {
            var path = p.GetValue(file)!;
            if (!path.Exists)
            {
                throw new CliException($"{path.FullName} does not exist");
            }

            using var client = Client(p);
            var added = await client.PostAsync<TrustedCertificateView>("/api/certs", new TrustCertificateRequest(await File.ReadAllTextAsync(path.FullName), p.GetValue(kind), null));
            output.WriteLine($"trusted ({added.Kind}): {added.Subject} sha256 {added.Sha256}");
        }));
        var fingerprint = new Argument<string>("sha256") { Description = "Fingerprint as listed" };
        var certsRemove = new Command("remove", "Stop trusting a certificate") { fingerprint };
        certsRemove.SetAction(p => Run(p, error, async () =>
        {
            using var client = Client(p);
            await client.DeleteAsync($"/api/certs/{Uri.EscapeDataString(p.GetValue(fingerprint)!)}");
            output.WriteLine($"removed {p.GetValue(fingerprint)}");
        }));
        certs.Subcommands.Add(certsList);
        certs.Subcommands.Add(certsAdd);
        certs.Subcommands.Add(certsRemove);
        root.Subcommands.Add(certs);

        // suggest
        var email = new Argument<string?>("email") { Arity = ArgumentArity.ZeroOrOne, Description = "The sender address whose domain's DNS and autoconfig are asked too" };
        var suggest = new Command("suggest", "Find the external SMTP server from this machine's mail clients, DNS and autoconfig") { email };
        suggest.SetAction(p => Run(p, error, async () =>
        {
            using var client = Client(p);
            var address = p.GetValue(email);
            var found = await client.GetAsync<List<SuggestionView>>(
                "/api/settings/suggest" + (address is null ? string.Empty : $"?email={Uri.EscapeDataString(address)}"));
            if (p.GetValue(json))
            {
                output.WriteLine(JsonSerializer.Serialize(found, AdminClient.Json));
                return;
            }

            if (found.Count == 0)
            {
                output.WriteLine("No SMTP server found in this machine's mail-client settings" + (address is null ? "; give an email address to ask DNS and autoconfig too." : $" or for {address}."));
                return;
            }

            output.Write(Output.Table(["host", "port", "tls", "username", "source"],
                found.Select(c => (IReadOnlyList<string?>)[c.Host, Count(c.Port), c.Tls, c.Username, string.Join("; ", c.Sources)])));
            var best = found[0];
            output.WriteLine($"To use the first: aytrack settings set relay.host={best.Host} relay.port={best.Port} relay.tls={best.Tls}");
        }));
        root.Subcommands.Add(suggest);

        return await root.Parse(args).InvokeAsync(new InvocationConfiguration { Output = output, Error = error });
    }

    /// <summary>Turns ["timing.threads=20", "relay.tls=StartTls"] into {"timing":{"threads":20},"relay":{"tls":"StartTls"}}.</summary>
    public static JsonObject BuildPatch(IEnumerable<string> pairs)
    {
        var patch = new JsonObject();
        foreach (var pair in pairs)
        {
            var equals = pair.IndexOf('=');
            if (equals <= 0)
            {
                throw new CliException($"'{pair}' is not key=value (for example timing.threads=20)");
            }

            var path = pair[..equals].Split('.');
            var text = pair[(equals + 1)..];
            JsonNode? value;
            try
            {
                // Numbers, true/false, null and JSON lists or objects are JSON; anything else is a string.
                value = JsonNode.Parse(text);
            }
            catch (JsonException)
            {
                value = JsonValue.Create(text);
            }

            var node = patch;
            foreach (var part in path[..^1])
            {
                node = node[part] as JsonObject ?? (JsonObject)(node[part] = new JsonObject());
            }

            node[path[^1]] = value;
        }

        return patch;
    }

    private static async Task<int> Run(ParseResult parse, TextWriter error, Func<Task> action)
    {
        try
        {
            await action();
            return 0;
        }
        catch (CliException failure)
        {
            await error.WriteLineAsync(failure.Message);
            return failure.ExitCode;
        }
    }

    private static Dictionary<string, string> Flatten(JsonNode node, string prefix = "")
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        if (node is JsonObject obj)
        {
            foreach (var (name, child) in obj)
            {
                if (child is JsonObject)
                {
                    foreach (var kv in Flatten(child, prefix + name + "."))
                    {
                        values[kv.Key] = kv.Value;
                    }
                }
                else
                {
                    values[prefix + name] = child switch
                    {
                        null => "null",
                        JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
                        _ => child.ToJsonString(),
                    };
                }
            }
        }

        return values;
    }

    private static string ThreadsTable(IEnumerable<NodeThreads> nodes) => Output.Table(["node", "routees", "setting", "override"],
        nodes.Select(n => (IReadOnlyList<string?>)[n.Node, Count(n.Routees), Count(n.Setting), n.Override?.ToString(CultureInfo.InvariantCulture)]));

    private static void Print(ActorNode node, int depth, StringBuilder text)
    {
        text.Append(new string(' ', depth * 2)).AppendLine(depth == 0 ? node.Path : node.Name);
        foreach (var child in node.Children)
        {
            Print(child, depth + 1, text);
        }
    }

    private static string Count(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static string? Time(DateTimeOffset? at) => at?.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
}
