using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using AyTrack.Contracts;

namespace AyTrack.Cli.Commands;

/// <summary>`aytrack settings show | set key=value… | history`: the Mail Sending Settings (GET/PATCH /api/settings).</summary>
public static class SettingsCommands
{
    public static Command Create(CliContext cli)
    {
        var settings = new Command("settings", "Read and change the Mail Sending Settings");

        var show = new Command("show", "Every setting with its value and where it came from");
        cli.Run(show, async p =>
        {
            using var client = cli.Client(p);
            var reply = await client.GetAsync<SettingsWithSources>("/api/settings?include=sources");
            cli.Output.Write(cli.WantsJson(p)
                ? reply.Settings.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + Environment.NewLine
                : $"version {reply.Version}{Environment.NewLine}" + Output.Table(["setting", "value", "source"],
                    Flatten(reply.Settings).Select(kv => (IReadOnlyList<string?>)[kv.Key, kv.Value, reply.Sources.GetValueOrDefault(kv.Key)])));
        });

        var pairs = new Argument<string[]>("key=value") { Description = "Dotted keys, e.g. timing.threads=20 relay.tls=StartTls; lists as JSON", Arity = ArgumentArity.OneOrMore };
        var set = new Command("set", "Change settings (a JSON merge patch built from key=value pairs)") { pairs };
        cli.Run(set, async p =>
        {
            var patch = BuildPatch(p.GetValue(pairs)!);
            using var client = cli.Client(p);
            var after = await client.PatchAsync<JsonElement>("/api/settings", patch.ToJsonString());
            if (cli.WantsJson(p))
            {
                cli.Output.WriteLine(JsonSerializer.Serialize(after, new JsonSerializerOptions { WriteIndented = true }));
                return;
            }

            var values = Flatten(JsonNode.Parse(after.GetRawText())!);
            foreach (var key in Flatten(patch).Keys)
            {
                var shown = key == "relay.password" ? "relay.passwordSet" : key;
                cli.Output.WriteLine($"{shown} = {values.GetValueOrDefault(shown, "-")}");
            }
        });

        var history = new Command("history", "Who changed what, when, from which node");
        cli.Run(history, async p =>
        {
            using var client = cli.Client(p);
            var entries = await client.GetAsync<List<SettingsHistoryEntry>>("/api/settings/history");
            cli.Output.Write(cli.WantsJson(p)
                ? JsonSerializer.Serialize(entries, AdminClient.Json) + Environment.NewLine
                : Output.Table(["version", "at (UTC)", "by", "node", "changed"], entries.Select(e => (IReadOnlyList<string?>)
                    [e.Version.ToString(CultureInfo.InvariantCulture), Output.Time(e.At), e.By, e.Node, string.Join(", ", e.Changed)])));
        });

        settings.Subcommands.Add(show);
        settings.Subcommands.Add(set);
        settings.Subcommands.Add(history);
        return settings;
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

    /// <summary>{"timing":{"threads":20}} as {"timing.threads": "20"}: the CLI's keys are the JSON paths.</summary>
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
}
