using System.Text.RegularExpressions;
using System.Xml.Linq;
using AyTrack.Core.Settings;

namespace AyTrack.Smtp.Suggest;

/// <summary>One candidate for the external SMTP server, and where it was found.</summary>
public sealed record ServerCandidate(string Host, int Port, RelayTls Tls, string? Username, string Source);

/// <summary>
/// Reads mail-client settings into candidates. Pure: each takes the file's text. Passwords are never read — the
/// parsers do not even look at the keys that hold them.
/// </summary>
public static partial class SuggestParsers
{
    /// <summary>
    /// Thunderbird prefs.js: mail.smtpserver.&lt;id&gt;.* (and mail.outgoingserver.&lt;id&gt;.* in newer versions);
    /// try_ssl 0 = plain, 2 = STARTTLS, 3 = SSL/TLS.
    /// </summary>
    public static IReadOnlyList<ServerCandidate> ThunderbirdPrefs(string prefsJs, string source)
    {
        var servers = new Dictionary<string, Dictionary<string, string>>(StringComparer.Ordinal);
        foreach (Match match in ThunderbirdPref().Matches(prefsJs))
        {
            var id = match.Groups[1].Value + "." + match.Groups[2].Value;
            if (!servers.TryGetValue(id, out var values))
            {
                servers[id] = values = new Dictionary<string, string>(StringComparer.Ordinal);
            }

            values[match.Groups[3].Value] = match.Groups[4].Value.Trim('"');
        }

        return servers.Values
            .Where(v => v.TryGetValue("hostname", out var host) && host.Length > 0)
            .Select(v =>
            {
                var tls = v.GetValueOrDefault("try_ssl") switch
                {
                    "3" => RelayTls.SslOnConnect,
                    "2" or "1" => RelayTls.StartTls,
                    _ => RelayTls.None,
                };
                var port = int.TryParse(v.GetValueOrDefault("port"), out var p) && p > 0 ? p : DefaultPort(tls);
                return new ServerCandidate(v["hostname"], port, tls, v.GetValueOrDefault("username"), source);
            })
            .ToList();
    }

    /// <summary>The profile directories listed in Thunderbird's profiles.ini (Path=, relative unless IsRelative=0).</summary>
    public static IReadOnlyList<string> ThunderbirdProfiles(string profilesIni, string thunderbirdDirectory)
    {
        var profiles = new List<string>();
        foreach (var section in Ini(profilesIni).Where(s => s.Key.StartsWith("Profile", StringComparison.OrdinalIgnoreCase)))
        {
            if (!section.Value.TryGetValue("Path", out var path))
            {
                continue;
            }

            var relative = section.Value.GetValueOrDefault("IsRelative", "1") != "0";
            profiles.Add(relative ? Path.Combine(thunderbirdDirectory, path) : path);
        }

        return profiles;
    }

    /// <summary>msmtp's configuration: accounts with host, port, tls, tls_starttls and user (defaults apply to all).</summary>
    public static IReadOnlyList<ServerCandidate> Msmtp(string config, string source)
    {
        var candidates = new List<ServerCandidate>();
        var defaults = new Dictionary<string, string>(StringComparer.Ordinal);
        Dictionary<string, string>? account = null;

        void Flush()
        {
            if (account is null)
            {
                return;
            }

            var values = new Dictionary<string, string>(defaults, StringComparer.Ordinal);
            foreach (var kv in account)
            {
                values[kv.Key] = kv.Value;
            }

            if (values.TryGetValue("host", out var host))
            {
                var tlsOn = values.GetValueOrDefault("tls") == "on";
                var starttls = values.GetValueOrDefault("tls_starttls", "on") != "off";
                var tls = !tlsOn ? RelayTls.None : starttls ? RelayTls.StartTls : RelayTls.SslOnConnect;
                var port = int.TryParse(values.GetValueOrDefault("port"), out var p) ? p : DefaultPort(tls);
                candidates.Add(new ServerCandidate(host, port, tls, values.GetValueOrDefault("user"), source));
            }
        }

        foreach (var raw in config.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            var space = line.IndexOfAny([' ', '\t']);
            var key = space < 0 ? line : line[..space];
            var value = space < 0 ? string.Empty : line[(space + 1)..].Trim();
            if (key == "account")
            {
                Flush();
                account = new Dictionary<string, string>(StringComparer.Ordinal);
                continue;
            }

            if (key == "defaults")
            {
                Flush();
                account = null;
                continue;
            }

            if (key is "password" or "passwordeval")
            {
                continue;
            }

            (account ?? defaults)[key] = value;
        }

        Flush();
        return candidates;
    }

    /// <summary>git's [sendemail] section: smtpServer, smtpServerPort, smtpEncryption (ssl/tls), smtpUser.</summary>
    public static IReadOnlyList<ServerCandidate> GitConfig(string gitconfig, string source)
    {
        var section = Ini(gitconfig).FirstOrDefault(s => s.Key.Equals("sendemail", StringComparison.OrdinalIgnoreCase)).Value;
        if (section is null || !section.TryGetValue("smtpserver", out var host) || host.StartsWith('/'))
        {
            return [];
        }

        var tls = section.GetValueOrDefault("smtpencryption")?.ToLowerInvariant() switch
        {
            "ssl" => RelayTls.SslOnConnect,
            "tls" => RelayTls.StartTls,
            _ => RelayTls.None,
        };
        var port = int.TryParse(section.GetValueOrDefault("smtpserverport"), out var p) ? p : DefaultPort(tls);
        return [new ServerCandidate(host, port, tls, section.GetValueOrDefault("smtpuser"), source)];
    }

    /// <summary>An Evolution mail transport source (~/.config/evolution/sources/*.source).</summary>
    public static IReadOnlyList<ServerCandidate> EvolutionSource(string source, string origin)
    {
        var sections = Ini(source);
        if (!sections.TryGetValue("Mail Transport", out var transport) ||
            !string.Equals(transport.GetValueOrDefault("BackendName"), "smtp", StringComparison.OrdinalIgnoreCase) ||
            !sections.TryGetValue("Authentication", out var authentication) ||
            authentication.GetValueOrDefault("Host") is not { Length: > 0 } host)
        {
            return [];
        }

        var method = sections.TryGetValue("Security", out var security) ? security.GetValueOrDefault("Method") : null;
        var tls = method switch
        {
            "ssl-on-alternate-port" => RelayTls.SslOnConnect,
            "starttls-on-standard-port" => RelayTls.StartTls,
            _ => RelayTls.None,
        };
        var port = int.TryParse(authentication.GetValueOrDefault("Port"), out var p) && p > 0 ? p : DefaultPort(tls);
        return [new ServerCandidate(host, port, tls, authentication.GetValueOrDefault("User"), origin)];
    }

    /// <summary>Mozilla autoconfig (config-v1.1.xml): its outgoing SMTP servers.</summary>
    public static IReadOnlyList<ServerCandidate> Autoconfig(string xml, string email, string source)
    {
        var document = XDocument.Parse(xml);
        var local = email.Contains('@') ? email[..email.IndexOf('@')] : email;
        var domain = email.Contains('@') ? email[(email.IndexOf('@') + 1)..] : string.Empty;
        return document.Descendants("outgoingServer")
            .Where(s => string.Equals((string?)s.Attribute("type"), "smtp", StringComparison.OrdinalIgnoreCase))
            .Select(s =>
            {
                var tls = ((string?)s.Element("socketType"))?.ToUpperInvariant() switch
                {
                    "SSL" => RelayTls.SslOnConnect,
                    "STARTTLS" => RelayTls.StartTls,
                    _ => RelayTls.None,
                };
                var host = ((string?)s.Element("hostname") ?? string.Empty).Replace("%EMAILDOMAIN%", domain, StringComparison.Ordinal);
                var port = int.TryParse((string?)s.Element("port"), out var p) ? p : DefaultPort(tls);
                var user = ((string?)s.Element("username"))?
                    .Replace("%EMAILADDRESS%", email, StringComparison.Ordinal)
                    .Replace("%EMAILLOCALPART%", local, StringComparison.Ordinal)
                    .Replace("%EMAILDOMAIN%", domain, StringComparison.Ordinal);
                return new ServerCandidate(host, port, tls, user, source);
            })
            .Where(c => c.Host.Length > 0)
            .ToList();
    }

    /// <summary>RFC 6409/8314 ports: 465 for implicit TLS, 587 for submission with STARTTLS, 25 otherwise.</summary>
    public static int DefaultPort(RelayTls tls) => tls switch
    {
        RelayTls.SslOnConnect => 465,
        RelayTls.StartTls => 587,
        _ => 25,
    };

    /// <summary>A small INI reader (sections, key=value, # and ; comments); git's subsections stay in the name.</summary>
    private static Dictionary<string, Dictionary<string, string>> Ini(string text)
    {
        var sections = new Dictionary<string, Dictionary<string, string>>(StringComparer.OrdinalIgnoreCase);
        var current = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        sections[string.Empty] = current;
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line[0] is '#' or ';')
            {
                continue;
            }

            if (line.StartsWith('[') && line.EndsWith(']'))
            {
                var name = line[1..^1].Trim();
                if (!sections.TryGetValue(name, out current!))
                {
                    sections[name] = current = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
                }

                continue;
            }

            var equals = line.IndexOf('=');
            if (equals > 0)
            {
                current[line[..equals].Trim()] = line[(equals + 1)..].Trim().Trim('"');
            }
        }

        return sections;
    }

    [GeneratedRegex("""user_pref\("mail\.(smtpserver|outgoingserver)\.([^.]+)\.(hostname|port|try_ssl|username)",\s*("?[^")]*"?)\);""")]
    private static partial Regex ThunderbirdPref();
}
