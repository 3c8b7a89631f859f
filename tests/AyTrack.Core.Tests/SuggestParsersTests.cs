using AyTrack.Core.Settings;
using AyTrack.Smtp.Suggest;
using Xunit;

namespace AyTrack.Core.Tests;

public sealed class SuggestParsersTests
{
    [Fact]
    public void Thunderbird_prefs_give_each_smtp_server_with_its_TLS_mode_and_never_a_password()
    {
        const string prefs = """
            user_pref("mail.smtpserver.smtp1.hostname", "smtp.example.test");
            user_pref("mail.smtpserver.smtp1.port", 465);
            user_pref("mail.smtpserver.smtp1.try_ssl", 3);
            user_pref("mail.smtpserver.smtp1.username", "alice@example.test");
            user_pref("mail.smtpserver.smtp2.hostname", "mail.other.test");
            user_pref("mail.smtpserver.smtp2.try_ssl", 2);
            user_pref("mail.outgoingserver.out3.hostname", "relay.new.test");
            user_pref("mail.outgoingserver.out3.try_ssl", 0);
            user_pref("mail.smtpserver.smtp1.password", "never-read");
            """;

        var candidates = SuggestParsers.ThunderbirdPrefs(prefs, "tb");

        Assert.Equal(
        [
            new ServerCandidate("smtp.example.test", 465, RelayTls.SslOnConnect, "alice@example.test", "tb"),
            new ServerCandidate("mail.other.test", 587, RelayTls.StartTls, null, "tb"),
            new ServerCandidate("relay.new.test", 25, RelayTls.None, null, "tb"),
        ], candidates);
    }

    [Fact]
    public void Thunderbird_profiles_ini_lists_relative_and_absolute_profiles()
    {
        const string ini = "[General]\nStartWithLastProfile=1\n\n[Profile0]\nName=default\nIsRelative=1\nPath=abcd.default\n\n[Profile1]\nIsRelative=0\nPath=/srv/tb/work\n";

        Assert.Equal(["/home/u/.thunderbird/abcd.default", "/srv/tb/work"], SuggestParsers.ThunderbirdProfiles(ini, "/home/u/.thunderbird"));
    }

    [Fact]
    public void Msmtp_accounts_inherit_defaults_and_map_tls_settings()
    {
        const string config = """
            # msmtprc
            defaults
            tls on
            account work
            host smtp.work.test
            port 587
            user me@work.test
            password secret
            account legacy
            host smtp.legacy.test
            tls_starttls off
            account plain
            host smtp.plain.test
            tls off
            """;

        Assert.Equal(
        [
            new ServerCandidate("smtp.work.test", 587, RelayTls.StartTls, "me@work.test", "m"),
            new ServerCandidate("smtp.legacy.test", 465, RelayTls.SslOnConnect, null, "m"),
            new ServerCandidate("smtp.plain.test", 25, RelayTls.None, null, "m"),
        ], SuggestParsers.Msmtp(config, "m"));
    }

    [Fact]
    public void Git_sendemail_settings_become_a_candidate()
    {
        const string gitconfig = "[user]\n\tname = Me\n[sendemail]\n\tsmtpServer = smtp.git.test\n\tsmtpServerPort = 587\n\tsmtpEncryption = tls\n\tsmtpUser = me\n";

        Assert.Equal([new ServerCandidate("smtp.git.test", 587, RelayTls.StartTls, "me", "g")], SuggestParsers.GitConfig(gitconfig, "g"));
        Assert.Empty(SuggestParsers.GitConfig("[sendemail]\n\tsmtpServer = /usr/sbin/sendmail\n", "g"));
    }

    [Fact]
    public void An_Evolution_smtp_transport_source_becomes_a_candidate()
    {
        const string source = "[Data Source]\nDisplayName=smtp.evo.test\n\n[Mail Transport]\nBackendName=smtp\n\n[Authentication]\nHost=smtp.evo.test\nPort=465\nUser=evo\n\n[Security]\nMethod=ssl-on-alternate-port\n";

        Assert.Equal([new ServerCandidate("smtp.evo.test", 465, RelayTls.SslOnConnect, "evo", "e")], SuggestParsers.EvolutionSource(source, "e"));
        Assert.Empty(SuggestParsers.EvolutionSource("[Mail Account]\nBackendName=imapx\n", "e"));
    }

    [Fact]
    public void Autoconfig_XML_gives_outgoing_servers_with_placeholders_filled()
    {
        const string xml = """
            <clientConfig version="1.1"><emailProvider id="example.test">
              <incomingServer type="imap"><hostname>imap.example.test</hostname><port>993</port><socketType>SSL</socketType></incomingServer>
              <outgoingServer type="smtp"><hostname>smtp.%EMAILDOMAIN%</hostname><port>465</port><socketType>SSL</socketType><username>%EMAILADDRESS%</username></outgoingServer>
              <outgoingServer type="smtp"><hostname>smtp2.example.test</hostname><port>587</port><socketType>STARTTLS</socketType><username>%EMAILLOCALPART%</username></outgoingServer>
            </emailProvider></clientConfig>
            """;

        Assert.Equal(
        [
            new ServerCandidate("smtp.example.test", 465, RelayTls.SslOnConnect, "bob@example.test", "a"),
            new ServerCandidate("smtp2.example.test", 587, RelayTls.StartTls, "bob", "a"),
        ], SuggestParsers.Autoconfig(xml, "bob@example.test", "a"));
    }
}
