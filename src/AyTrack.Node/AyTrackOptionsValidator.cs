using AyTrack.Core.Configuration;
using AyTrack.Core.Settings;
using AyTrack.Smtp.Dns;
using AyTrack.Smtp.MtaSts;
using Microsoft.Extensions.Options;

namespace AyTrack.Node;

/// <summary>
/// Every rule for the node's configuration, each problem named by its configuration key. The host runs it through
/// Microsoft.Extensions.Options (<c>ValidateOnStart</c>); <see cref="NodeHost"/> also runs it first thing, because the
/// node's build step already creates the data directory, the secrets key and the cluster certificate, and a typo must
/// stop the node before any of them is touched.
/// </summary>
public sealed class AyTrackOptionsValidator : IValidateOptions<AyTrackOptions>
{
    public ValidateOptionsResult Validate(string? name, AyTrackOptions options)
    {
        var failures = Problems(options).Select(p => $"{p.Key} {p.Value}").ToList();
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    /// <summary>Throws <see cref="OptionsValidationException"/> listing every problem (its message joins them with "; ").</summary>
    public static void ThrowIfInvalid(AyTrackOptions options)
    {
        var result = new AyTrackOptionsValidator().Validate(Options.DefaultName, options);
        if (result.Failed)
        {
            throw new OptionsValidationException(Options.DefaultName, typeof(AyTrackOptions), result.Failures);
        }
    }

    private static IEnumerable<KeyValuePair<string, string>> Problems(AyTrackOptions options)
    {
        var problems = new List<KeyValuePair<string, string>>();

        // The values parsed on use throw a FormatException that starts with the key: "Key: problem".
        var parsed = new List<Action>
        {
            () => _ = options.Listener.ParsedEndpoint,
            () => _ = options.Delivery.AllowedDestinationList,
            () => OutboundTrust.Load(options.Delivery.TrustedCaPath),
        };
        parsed.AddRange((options.Dns.Servers ?? []).Select<string, Action>(server => () => MxResolver.ParseServer(server)));
        foreach (var parse in parsed)
        {
            try
            {
                parse();
            }
            catch (FormatException error)
            {
                var colon = error.Message.IndexOf(": ", StringComparison.Ordinal);
                problems.Add(colon > 0
                    ? new(error.Message[..colon], error.Message[(colon + 2)..])
                    : new("AyTrack", error.Message));
            }
        }

        if (options.Admin.MaxConnections < 1)
        {
            problems.Add(new("AyTrack:Admin:MaxConnections", "must be at least 1"));
        }

        if (options.Delivery.MtaSts.PolicyPort is < 1 or > 65535)
        {
            problems.Add(new("AyTrack:Delivery:MtaSts:PolicyPort", "must be between 1 and 65535"));
        }

        if (options.Delivery.MtaSts.FetchTimeout <= TimeSpan.Zero)
        {
            problems.Add(new("AyTrack:Delivery:MtaSts:FetchTimeout", "must be positive (for example 00:00:10)"));
        }

        try
        {
            AyTrack.Core.Bounces.BounceRulesFile.Load(options.Delivery.BounceRulesPath);
        }
        catch (FormatException error)
        {
            problems.Add(new("AyTrack:Delivery:BounceRulesPath", error.Message));
        }

        try
        {
            ShapingService.LoadRules(options);
        }
        catch (FormatException error)
        {
            problems.Add(new("AyTrack:Delivery:ShapingPath", error.Message));
        }

        problems.AddRange(options.Egress.Validate());

        if (options.Storage.ProbeInterval <= TimeSpan.Zero)
        {
            problems.Add(new("AyTrack:Storage:ProbeInterval", "must be positive (for example 00:00:15)"));
        }

        // The operator settings use the admin API's rules; their JSON paths become configuration keys.
        problems.AddRange(SettingsDocument.Validate(options.Settings)
            .Select(e => new KeyValuePair<string, string>(SettingsKey(e.Key), string.Join(", ", e.Value))));
        problems.AddRange(options.Listener.Validate());
        problems.AddRange(options.Submission.Validate(options.Listener));
        if (options.Listener.Tls.Enabled && AyTrack.Smtp.Listener.ListenerCertificate.Problem(options.Listener.Tls) is { } certificate)
        {
            problems.Add(new("AyTrack:Listener:Tls:CertificatePath", certificate));
        }
        problems.AddRange(ClusterMembershipOptions.Validate(options.Cluster, options.Persistence));
        return problems;
    }

    /// <summary>"timing.schedule.windows[0].start" is configured as AyTrack:Settings:Timing:Schedule:Windows:0:Start.</summary>
    internal static string SettingsKey(string jsonPath) =>
        "AyTrack:Settings" + string.Concat(jsonPath.Replace("[", ".").Replace("]", string.Empty)
            .Split('.', StringSplitOptions.RemoveEmptyEntries)
            .Select(part => ":" + char.ToUpperInvariant(part[0]) + part[1..]));
}
