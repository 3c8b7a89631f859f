using AyTrack.Core.Addresses;
using AyTrack.Core.Configuration;
using AyTrack.Core.Settings;
using AyTrack.Smtp.Dns;
using Microsoft.Extensions.Logging;

namespace AyTrack.Smtp.Suggest;

/// <summary>A ranked suggestion: the candidate and every source that named it.</summary>
public sealed record Suggestion(string Host, int Port, RelayTls Tls, string? Username, IReadOnlyList<string> Sources, int Score);

/// <summary>
/// The Suggest button: finds the external SMTP server from the mail-client settings on this machine (Thunderbird,
/// Evolution, msmtp, git send-email) and, for an email address, from DNS (RFC 6186/8314 SRV records) and Mozilla
/// autoconfig. Candidates named by several sources are merged; those for the email's own domain and with TLS rank
/// first. Stored passwords are never read.
/// </summary>
/// <remarks>
/// <paramref name="httpClients"/> hands out a client per autoconfig lookup (the node's IHttpClientFactory), so DNS
/// changes and pooled connections are handled by the factory rather than by one client kept for the node's lifetime.
/// </remarks>
public sealed class SuggestService(SuggestOptions options, MxResolver resolver, Func<HttpClient> httpClients, ILogger<SuggestService> logger)
{
    public async Task<IReadOnlyList<Suggestion>> SuggestAsync(string? email, CancellationToken cancellationToken)
    {
        var candidates = new List<ServerCandidate>();
        var home = options.Home.Length > 0 ? options.Home : Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        candidates.AddRange(FromFiles(home));

        string? domain = null;
        if (email is { Length: > 0 })
        {
            if (!EmailAddress.TryParse(email, out var address, out var error))
            {
                throw new ArgumentException(error, nameof(email));
            }

            domain = address.Domain.Value;
            candidates.AddRange(await FromDnsAsync(domain, cancellationToken));
            candidates.AddRange(await FromAutoconfigAsync(address.Address, domain, cancellationToken));
        }

        return candidates
            .GroupBy(c => (Host: c.Host.ToLowerInvariant().TrimEnd('.'), c.Port))
            .Select(g => new Suggestion(g.Key.Host, g.Key.Port, g.First().Tls, g.Select(c => c.Username).FirstOrDefault(u => !string.IsNullOrEmpty(u)),
                g.Select(c => c.Source).Distinct().ToList(), Score(g.First(), g.Count(), domain)))
            .OrderByDescending(s => s.Score)
            .ThenBy(s => s.Host, StringComparer.Ordinal)
            .ToList();
    }

    private static int Score(ServerCandidate candidate, int sources, string? domain)
    {
        var score = sources;
        if (domain is not null && (candidate.Host.EndsWith("." + domain, StringComparison.OrdinalIgnoreCase) ||
                                   candidate.Source.StartsWith("dns", StringComparison.Ordinal) ||
                                   candidate.Source.StartsWith("autoconfig", StringComparison.Ordinal)))
        {
            score += 4;
        }

        return score + (candidate.Tls == RelayTls.None ? 0 : 2);
    }

    private IEnumerable<ServerCandidate> FromFiles(string home)
    {
        var found = new List<ServerCandidate>();
        var thunderbird = Path.Combine(home, ".thunderbird");
        var profilesIni = Path.Combine(thunderbird, "profiles.ini");
        if (File.Exists(profilesIni))
        {
            foreach (var profile in SuggestParsers.ThunderbirdProfiles(Read(profilesIni), thunderbird))
            {
                var prefs = Path.Combine(profile, "prefs.js");
                if (File.Exists(prefs))
                {
                    found.AddRange(SuggestParsers.ThunderbirdPrefs(Read(prefs), $"thunderbird ({prefs})"));
                }
            }
        }

        var xdg = Environment.GetEnvironmentVariable("XDG_CONFIG_HOME") is { Length: > 0 } x && options.Home.Length == 0 ? x : Path.Combine(home, ".config");
        foreach (var msmtp in new[] { Path.Combine(home, ".msmtprc"), Path.Combine(xdg, "msmtp", "config") }.Where(File.Exists))
        {
            found.AddRange(SuggestParsers.Msmtp(Read(msmtp), $"msmtp ({msmtp})"));
        }

        var gitconfig = Path.Combine(home, ".gitconfig");
        if (File.Exists(gitconfig))
        {
            found.AddRange(SuggestParsers.GitConfig(Read(gitconfig), $"git sendemail ({gitconfig})"));
        }

        var evolution = Path.Combine(xdg, "evolution", "sources");
        if (Directory.Exists(evolution))
        {
            foreach (var source in Directory.EnumerateFiles(evolution, "*.source"))
            {
                found.AddRange(SuggestParsers.EvolutionSource(Read(source), $"evolution ({source})"));
            }
        }

        return found;
    }

    private async Task<IEnumerable<ServerCandidate>> FromDnsAsync(string domain, CancellationToken cancellationToken)
    {
        var found = new List<ServerCandidate>();
        // RFC 8314 §5.1: implicit TLS (submissions) is preferred over STARTTLS (submission).
        foreach (var (service, tls) in new[] { ("_submissions._tcp", RelayTls.SslOnConnect), ("_submission._tcp", RelayTls.StartTls) })
        {
            var name = $"{service}.{domain}";
            foreach (var record in await resolver.ResolveSrvAsync(name, cancellationToken))
            {
                found.Add(new ServerCandidate(record.Target, record.Port, tls, null, $"dns SRV {name}"));
            }
        }

        return found;
    }

    private async Task<IEnumerable<ServerCandidate>> FromAutoconfigAsync(string email, string domain, CancellationToken cancellationToken)
    {
        var found = new List<ServerCandidate>();
        foreach (var template in options.AutoconfigUrls ?? SuggestOptions.DefaultAutoconfigUrls)
        {
            var url = template.Replace("{domain}", domain, StringComparison.Ordinal);
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(options.Timeout);
                var xml = await httpClients().GetStringAsync(url, timeout.Token);
                found.AddRange(SuggestParsers.Autoconfig(xml, email, $"autoconfig {url}"));
            }
            catch (Exception error) when (error is HttpRequestException or TaskCanceledException or System.Xml.XmlException)
            {
                logger.LogDebug("No autoconfig at {Url}: {Error}", url, error.Message);
            }
        }

        return found;
    }

    private static string Read(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            return string.Empty;
        }
    }
}
