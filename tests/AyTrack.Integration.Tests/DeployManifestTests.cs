using System.Collections;
using System.Reflection;
using AyTrack.Core.Configuration;
using AyTrack.Integration.Tests.Support;
using Microsoft.Extensions.Configuration;
using Xunit;
using YamlDotNet.RepresentationModel;

namespace AyTrack.Integration.Tests;

/// <summary>
/// What can be checked of deploy/ without Docker or Kubernetes here: every AyTrack setting the manifests pass is a
/// key the node knows, and each node's resulting configuration passes the node's own start-up validation.
/// </summary>
public sealed class DeployManifestTests
{
    private static readonly string Deploy = Path.Combine(Repository.Root, "deploy");

    [Theory]
    [InlineData("node1")]
    [InlineData("node2")]
    [InlineData("node3")]
    public void Each_compose_node_is_configured_with_known_keys_as_a_valid_cluster_member(string service)
    {
        var compose = Load(Path.Combine(Deploy, "docker", "docker-compose.yml"));
        var environment = Mapping(compose, "services", service, "environment")
            .ToDictionary(kv => kv.Key, kv => kv.Value
                .Replace("${AYTRACK_ADMIN_TOKEN:?set AYTRACK_ADMIN_TOKEN to a shared admin token}", "token")
                .Replace("${AYTRACK_METRICS_TOKEN:?set AYTRACK_METRICS_TOKEN to a shared metrics token}", "metrics-token"));

        AssertValidNode(environment);
        Assert.Equal(service, environment["AyTrack__Cluster__Hostname"]);
    }

    [Fact]
    public void The_kubernetes_pods_are_configured_with_known_keys_as_valid_cluster_members_and_ready_by_healthz()
    {
        var config = Mapping(Load(Path.Combine(Deploy, "k8s", "configmap.yaml")), "data");
        var statefulSet = Load(Path.Combine(Deploy, "k8s", "statefulset.yaml"));
        var container = (YamlMappingNode)((YamlSequenceNode)Node(statefulSet, "spec", "template", "spec", "containers")).Children[0];
        var environment = new Dictionary<string, string>(config);
        foreach (YamlMappingNode variable in ((YamlSequenceNode)container.Children[new YamlScalarNode("env")]).Children)
        {
            var name = variable.Children[new YamlScalarNode("name")].ToString();
            environment[name] = variable.Children.TryGetValue(new YamlScalarNode("value"), out var value)
                ? value.ToString().Replace("$(POD_NAME)", "aytrack-2").Replace("$(POD_NAMESPACE)", "aytrack")
                : "from-secret";
        }

        AssertValidNode(environment.Where(kv => kv.Key.StartsWith("AyTrack__", StringComparison.Ordinal)).ToDictionary());
        Assert.Equal("/healthz", Node(container, "readinessProbe", "httpGet", "path").ToString());
        Assert.Equal("/healthz/live", Node(container, "livenessProbe", "httpGet", "path").ToString());
        Assert.Equal("3", Node(statefulSet, "spec", "replicas").ToString());
        Assert.All(config.Where(kv => kv.Key.StartsWith("AyTrack__Cluster__SeedNodes", StringComparison.Ordinal)),
            seed => Assert.Contains(".aytrack.aytrack.svc.cluster.local:4053", seed.Value));
    }

    [Fact]
    public void Prometheus_scrapes_every_compose_node_with_the_metrics_token_and_the_dashboard_uses_only_exported_metrics()
    {
        var compose = Load(Path.Combine(Deploy, "docker", "docker-compose.yml"));
        var prometheus = Load(Path.Combine(Deploy, "docker", "prometheus.yml"));
        var job = (YamlMappingNode)((YamlSequenceNode)Node(prometheus, "scrape_configs")).Children[0];
        Assert.Equal("/metrics", Node(job, "metrics_path").ToString());
        Assert.Equal("/run/secrets/metrics_token", Node(job, "authorization", "credentials_file").ToString());
        var targets = ((YamlSequenceNode)Node(((YamlSequenceNode)Node(job, "static_configs")).Children[0], "targets")).Children.Select(t => t.ToString());
        Assert.Equal(["node1:8025", "node2:8025", "node3:8025"], targets);
        Assert.Equal("AYTRACK_METRICS_TOKEN", Node(compose, "secrets", "metrics_token", "environment").ToString());
        Assert.Contains("metrics_token", ((YamlSequenceNode)Node(compose, "services", "prometheus", "secrets")).Children.Select(c => c.ToString()));

        // The dashboard shows every metric the node exports, and asks for no other (histograms as _bucket).
        using var metrics = new AyTrack.Core.Metrics.AyTrackMetrics(TimeProvider.System);
        var exported = new HashSet<string>();
        using (var listener = new System.Diagnostics.Metrics.MeterListener())
        {
            listener.InstrumentPublished = (instrument, _) =>
            {
                if (ReferenceEquals(instrument.Meter, metrics.Meter))
                {
                    exported.Add("aytrack_" + instrument.Name + (instrument.GetType().Name.StartsWith("Histogram", StringComparison.Ordinal) ? "_bucket" : string.Empty));
                }
            };
            listener.Start();
        }

        var dashboard = File.ReadAllText(Path.Combine(Deploy, "docker", "grafana", "dashboards", "aytrack.json"));
        var used = System.Text.RegularExpressions.Regex.Matches(dashboard, "aytrack_[a-z_]+").Select(m => m.Value).ToHashSet();
        Assert.Equal(exported.Order(StringComparer.Ordinal), used.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void The_systemd_unit_and_the_compose_nodes_allow_descriptors_for_the_listener_defaults()
    {
        // One per session and one per spilled message at most, plus the node's own (about 400 measured).
        var needed = 2 * new ListenerOptions().MaxConnections + 1024;
        var unit = File.ReadAllLines(Path.Combine(Deploy, "systemd", "aytrack.service"));
        var limit = unit.Single(l => l.StartsWith("LimitNOFILE=", StringComparison.Ordinal))["LimitNOFILE=".Length..];
        Assert.True(int.Parse(limit) >= needed, $"LimitNOFILE={limit} is below {needed}");

        var compose = Load(Path.Combine(Deploy, "docker", "docker-compose.yml"));
        foreach (var service in new[] { "node1", "node2", "node3" })
        {
            // The setting sits in the shared x-aytrack block that each node merges in (<<: *aytrack).
            var node = (YamlMappingNode)Node(compose, "services", service);
            var merged = node.Children.TryGetValue(new YamlScalarNode("<<"), out var shared) ? (YamlMappingNode)shared : node;
            var ulimits = node.Children.TryGetValue(new YamlScalarNode("ulimits"), out var own) ? own : merged.Children[new YamlScalarNode("ulimits")];
            var soft = Node(ulimits, "nofile", "soft").ToString();
            Assert.True(int.Parse(soft) >= needed, $"{service}: nofile soft limit {soft} is below {needed}");
        }
    }

    private static void AssertValidNode(IReadOnlyDictionary<string, string> environment)
    {
        foreach (var key in environment.Keys.Where(k => k.StartsWith("AyTrack__", StringComparison.Ordinal)))
        {
            Assert.True(IsKnownKey(typeof(AyTrackOptions), key.Split("__").Skip(1).ToArray()), $"{key} is not a configuration key of the node");
        }

        var options = new ConfigurationBuilder()
            .AddInMemoryCollection(environment.ToDictionary(kv => kv.Key.Replace("__", ":"), kv => (string?)kv.Value))
            .Build().GetSection(AyTrackOptions.SectionName).Get<AyTrackOptions>()!;
        Assert.Empty(ClusterMembershipOptions.Validate(options.Cluster, options.Persistence));
        Assert.True(options.Cluster.IsMultiNode);
    }

    /// <summary>Whether a configuration path (Cluster, SeedNodes, 0) names a settable property, indices for lists.</summary>
    private static bool IsKnownKey(Type type, IReadOnlyList<string> path)
    {
        if (path.Count == 0)
        {
            return true;
        }

        if (type != typeof(string) && typeof(IEnumerable).IsAssignableFrom(type))
        {
            var element = type.IsArray ? type.GetElementType()! : type.GetGenericArguments().Last();
            return int.TryParse(path[0], out _) && IsKnownKey(element, path.Skip(1).ToArray());
        }

        var property = type.GetProperty(path[0], BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase);
        return property is { CanWrite: true } && IsKnownKey(property.PropertyType, path.Skip(1).ToArray());
    }

    private static YamlMappingNode Load(string path)
    {
        var stream = new YamlStream();
        using var reader = File.OpenText(path);
        stream.Load(reader);
        return (YamlMappingNode)stream.Documents[0].RootNode;
    }

    private static YamlNode Node(YamlNode node, params string[] path) =>
        path.Aggregate(node, (current, key) => ((YamlMappingNode)current).Children[new YamlScalarNode(key)]);

    /// <summary>A mapping's scalar entries, with YAML merge keys (&lt;&lt;: *anchor) applied as Compose applies them.</summary>
    private static Dictionary<string, string> Mapping(YamlNode node, params string[] path)
    {
        var mapping = (YamlMappingNode)Node(node, path);
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in mapping.Children)
        {
            if (key.ToString() == "<<" && value is YamlMappingNode merged)
            {
                foreach (var (k, v) in merged.Children)
                {
                    result.TryAdd(k.ToString(), v.ToString());
                }
            }
        }

        foreach (var (key, value) in mapping.Children.Where(c => c.Key.ToString() != "<<"))
        {
            result[key.ToString()] = value.ToString();
        }

        return result;
    }
}
