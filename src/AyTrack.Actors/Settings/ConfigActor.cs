using System.Text.Json.Nodes;
using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Event;
using Akka.Persistence;
using AyTrack.Core.Settings;

namespace AyTrack.Actors.Settings;

/// <summary>
/// Owns the operator settings: a persistent cluster singleton. Configuration seeds version 1 on the very first start
/// only; afterwards every change is a persisted event with who, from which node and when (the audit history), and
/// is published to every node. Validation is <see cref="SettingsDocument"/>'s: an invalid patch changes nothing.
/// </summary>
public sealed class ConfigActor : ReceivePersistentActor
{
    private readonly SecretBox _secrets;
    private readonly TimeProvider _clock;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly List<ConfigReplies.HistoryEntry> _history = [];
    private OperatorSettings _settings = new();
    private Dictionary<string, string> _sources = new(StringComparer.Ordinal);
    private long _version;
    private string? _invalid;

    public ConfigActor(OperatorSettings seed, IReadOnlyCollection<string> configuredPaths, SecretBox secrets, TimeProvider clock)
    {
        _secrets = secrets;
        _clock = clock;
        Recover<ConfigEvents.SettingsSeeded>(Apply);
        Recover<ConfigEvents.SettingsChanged>(Apply);
        Recover<RecoveryCompleted>(_ =>
        {
            if (_version == 0)
            {
                Self.Tell(new Seed(seed, configuredPaths));
            }
        });

        Command<Seed>(s =>
        {
            if (_version != 0)
            {
                return;
            }

            var document = SettingsDocument.ToJson(s.Settings);
            var sources = Leaves(document).ToDictionary(p => p, p => s.ConfiguredPaths.Contains(p) ? "configuration" : "default", StringComparer.Ordinal);
            Persist(new ConfigEvents.SettingsSeeded(document.ToJsonString(), SealPassword(s.Settings), sources, _clock.GetUtcNow()), e =>
            {
                Apply(e);
                Publish();
                Stash.UnstashAll();
            });
        });

        // Until version 1 exists (the first start's seed), questions wait rather than see defaults.
        Command<ConfigCommands.GetSettings>(_ => WhenSeeded(() => Sender.Tell(Current())));
        Command<ConfigCommands.GetHistory>(_ => WhenSeeded(() => Sender.Tell(new ConfigReplies.History(_history.ToList()))));
        Command<ConfigCommands.ChangeSettings>(change => WhenSeeded(() => Handle(change)));
    }

    private void WhenSeeded(Action action)
    {
        if (_version == 0)
        {
            Stash.Stash();
        }
        else
        {
            action();
        }
    }

    public static Props Props(OperatorSettings seed, IReadOnlyCollection<string> configuredPaths, SecretBox secrets, TimeProvider clock) =>
        Akka.Actor.Props.Create(() => new ConfigActor(seed, configuredPaths, secrets, clock));

    public override string PersistenceId => "aytrack-settings";

    private void Handle(ConfigCommands.ChangeSettings change)
    {
        if (change.ExpectedVersion is { } expected && expected != _version)
        {
            Sender.Tell(new ConfigReplies.VersionConflict(_version));
            return;
        }

        // The admin API refuses duplicate keys already; a patch from another node is checked again, because a
        // duplicate would throw deep inside the merge instead of being answered.
        if (JsonDuplicateKeys.Find(System.Text.Encoding.UTF8.GetBytes(change.Patch)) is { } duplicate)
        {
            Sender.Tell(new ConfigReplies.Rejected(new Dictionary<string, string[]> { [duplicate] = ["appears more than once in the same object"] }));
            return;
        }

        JsonNode? patch;
        try
        {
            patch = JsonNode.Parse(change.Patch);
        }
        catch (System.Text.Json.JsonException error)
        {
            Sender.Tell(new ConfigReplies.Rejected(new Dictionary<string, string[]> { ["$"] = [$"not valid JSON: {error.Message}"] }));
            return;
        }

        var (updated, errors) = SettingsDocument.ApplyPatch(_settings, patch);
        if (updated is null)
        {
            Sender.Tell(new ConfigReplies.Rejected(errors));
            return;
        }

        if (change.SealedPassword is not null)
        {
            // Opened only here, inside the singleton: the password crossed the cluster sealed.
            try
            {
                updated = updated with { Relay = updated.Relay with { Password = _secrets.Open(change.SealedPassword) } };
            }
            catch (System.Security.Cryptography.CryptographicException)
            {
                Sender.Tell(new ConfigReplies.Rejected(new Dictionary<string, string[]>
                {
                    ["relay.password"] = ["was sealed with another secrets key than this cluster's config actor holds: " +
                                          "every node needs the same AyTrack:Secrets:KeyFile"],
                }));
                return;
            }
        }

        var before = SettingsDocument.ToJson(_settings);
        var after = SettingsDocument.ToJson(updated);
        var changed = Leaves(after).Where(p => Value(before, p) != Value(after, p)).ToList();
        if (!_settings.Relay.Password.Equals(updated.Relay.Password))
        {
            changed.Add("relay.password");
        }

        if (changed.Count == 0)
        {
            Sender.Tell(new ConfigReplies.Changed(Current()));
            return;
        }

        var @event = new ConfigEvents.SettingsChanged(_version + 1, after.ToJsonString(), SealPassword(updated), changed.Distinct().ToList(),
            change.By, change.Node, _clock.GetUtcNow());
        Persist(@event, e =>
        {
            Apply(e);
            // Paths only, never values: the audit log must not carry the password.
            _log.Info("Settings version {0} by {1} on {2}: {3}", e.Version, e.By, e.Node, string.Join(", ", e.Changed));
            Sender.Tell(new ConfigReplies.Changed(Current()));
            Publish();
        });
    }

    private void Apply(ConfigEvents.SettingsSeeded e)
    {
        _settings = Restore(e.Document, e.SealedPassword);
        _sources = new Dictionary<string, string>(e.Sources, StringComparer.Ordinal);
        _version = 1;
        _history.Add(new ConfigReplies.HistoryEntry(1, e.At, "startup", "configuration", ["(seeded from configuration)"]));
    }

    private void Apply(ConfigEvents.SettingsChanged e)
    {
        // A persisted version that does not validate (written by an older build, or damaged) must not brick the
        // settings: the last valid version stays in force, the health report says settings-invalid, and the next
        // valid change repairs it.
        try
        {
            _settings = Restore(e.Document, e.SealedPassword);
            _invalid = null;
        }
        catch (Exception error) when (error is InvalidOperationException or System.Text.Json.JsonException or FormatException
                                          or System.Security.Cryptography.CryptographicException)
        {
            _invalid = $"settings version {e.Version} does not validate ({error.Message}); version in force: the last valid one";
            _log.Error("Persisted {0}", _invalid);
        }

        _version = e.Version;
        foreach (var path in e.Changed)
        {
            _sources[path] = $"api ({e.By}, {e.At:yyyy-MM-dd HH:mm:ss}Z)";
        }

        _history.Add(new ConfigReplies.HistoryEntry(e.Version, e.At, e.By, e.Node, e.Changed));
    }

    private OperatorSettings Restore(string document, string? sealedPassword) => SettingsWire.Restore(document, sealedPassword, _secrets);

    private string? SealPassword(OperatorSettings settings) => settings.Relay.Password.IsSet ? _secrets.Seal(settings.Relay.Password) : null;

    private ConfigReplies.CurrentSettings Current() =>
        new(_version, SettingsDocument.ToJson(_settings).ToJsonString(), SealPassword(_settings), new Dictionary<string, string>(_sources))
        {
            Invalid = _invalid,
        };

    private void Publish()
    {
        var current = Current();
        DistributedPubSub.Get(Context.System).Mediator.Tell(new Publish(SettingsPublished.Topic,
            new SettingsPublished(current.Version, current.Document, current.SealedPassword) { Invalid = current.Invalid }));
    }

    /// <summary>The JSON paths of the settings' values; a list counts as one value.</summary>
    private static IEnumerable<string> Leaves(JsonNode node, string prefix = "")
    {
        if (node is JsonObject obj)
        {
            foreach (var (name, child) in obj)
            {
                if (child is null)
                {
                    yield return prefix + name;
                    continue;
                }

                foreach (var leaf in Leaves(child, prefix + name + "."))
                {
                    yield return leaf;
                }
            }
        }
        else
        {
            yield return prefix.TrimEnd('.');
        }
    }

    private static string? Value(JsonNode root, string path)
    {
        JsonNode? node = root;
        foreach (var part in path.Split('.'))
        {
            node = node?[part];
        }

        return node?.ToJsonString();
    }

    private sealed record Seed(OperatorSettings Settings, IReadOnlyCollection<string> ConfiguredPaths);
}
