using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace AyTrack.Loopback;

/// <summary>
/// Debian's Postfix as a real third-party relay: its own configuration directory, listening on the fixed loopback
/// port 127.0.0.1:10587 with STARTTLS, relaying everything from 127.0.0.0/8 onward through a transport map (one
/// address for everything, or one per domain). Installed by .ci/run (apt-get install postfix); started and stopped by
/// the test or the benchmark as root. Its queue is fsynced as Postfix always does, so its 250 means "on disk" too.
/// </summary>
public sealed class PostfixRelay : IAsyncDisposable
{
    public const int Port = 10587;

    private readonly string _dir;
    private int? _masterPid;

    private PostfixRelay(string dir, X509Certificate2 certificate)
    {
        _dir = dir;
        Certificate = certificate;
    }

    /// <summary>The certificate Postfix presents (self-signed, CN=postfix.relay.test).</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>
    /// CPU used so far by this Postfix: its master and every daemon under it, with the daemons it has already reaped.
    /// </summary>
    public TimeSpan CpuTime => ProcessTreeCpu.Read(_masterPid ??= MasterPid());

    /// <summary>
    /// This instance's master process: the one named "master" working in this instance's queue directory (the master
    /// changes into it at start). Its pid file cannot be read from .NET, which would take a shared lock on a file the
    /// master keeps locked.
    /// </summary>
    private int MasterPid()
    {
        var queue = Path.Combine(_dir, "queue");
        foreach (var pid in ProcessTreeCpu.Named("master"))
        {
            try
            {
                if (Directory.ResolveLinkTarget($"/proc/{pid}/cwd", returnFinalTarget: false)?.FullName == queue)
                {
                    return pid;
                }
            }
            catch (Exception error) when (error is IOException or UnauthorizedAccessException)
            {
                // Ended while the list was read.
            }
        }

        throw new InvalidOperationException($"no Postfix master process works in {queue}");
    }

    public string MailLog => File.Exists(Path.Combine(_dir, "maillog")) ? File.ReadAllText(Path.Combine(_dir, "maillog")) : string.Empty;

    public static Task<PostfixRelay> StartAsync(IPEndPoint onwardTo) => StartAsync([("*", onwardTo)]);

    /// <summary>Relays mail for each domain to its address ("*" for every other domain).</summary>
    public static async Task<PostfixRelay> StartAsync(IReadOnlyList<(string Domain, IPEndPoint To)> routes)
    {
        if (!File.Exists("/usr/sbin/postfix"))
        {
            throw new InvalidOperationException("Postfix is not installed: run .ci/run, or apt-get install postfix");
        }

        var dir = Path.Combine("/tmp", "aytrack-postfix-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Path.Combine(dir, "queue"));
        Directory.CreateDirectory(Path.Combine(dir, "data"));
        await Run("chown", "postfix", Path.Combine(dir, "data"));

        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=postfix.relay.test", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("postfix.relay.test");
        request.CertificateExtensions.Add(san.Build());
        var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(2));
        await File.WriteAllTextAsync(Path.Combine(dir, "cert.pem"), certificate.ExportCertificatePem());
        await File.WriteAllTextAsync(Path.Combine(dir, "key.pem"), key.ExportPkcs8PrivateKeyPem());
        await File.WriteAllTextAsync(Path.Combine(dir, "transport"),
            string.Concat(routes.Select(r => $"{r.Domain} smtp:[{r.To.Address}]:{r.To.Port}\n")));
        await File.WriteAllTextAsync(Path.Combine(dir, "main.cf"), $"""
            compatibility_level = 3.6
            queue_directory = {dir}/queue
            data_directory = {dir}/data
            mail_owner = postfix
            myhostname = postfix.relay.test
            mydomain = relay.test
            inet_interfaces = 127.0.0.1
            inet_protocols = ipv4
            mynetworks = 127.0.0.0/8
            mydestination =
            relay_domains =
            local_recipient_maps =
            alias_maps =
            alias_database =
            smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
            transport_maps = texthash:{dir}/transport
            smtp_dns_support_level = disabled
            smtpd_tls_cert_file = {dir}/cert.pem
            smtpd_tls_key_file = {dir}/key.pem
            smtpd_tls_security_level = may
            smtp_tls_security_level = none
            maillog_file = {dir}/maillog
            maillog_file_prefixes = /tmp
            """);
        await File.WriteAllTextAsync(Path.Combine(dir, "master.cf"), $"""
            127.0.0.1:{Port} inet n - n - - smtpd
            pickup    unix  n - n 60 1 pickup
            cleanup   unix  n - n - 0 cleanup
            qmgr      unix  n - n 300 1 qmgr
            tlsmgr    unix  - - n 1000? 1 tlsmgr
            rewrite   unix  - - n - - trivial-rewrite
            bounce    unix  - - n - 0 bounce
            defer     unix  - - n - 0 bounce
            trace     unix  - - n - 0 bounce
            verify    unix  - - n - 1 verify
            flush     unix  n - n 1000? 0 flush
            proxymap  unix  - - n - - proxymap
            smtp      unix  - - n - - smtp
            relay     unix  - - n - - smtp
            error     unix  - - n - - error
            retry     unix  - - n - - error
            discard   unix  - - n - - discard
            local     unix  - n n - - local
            showq     unix  n - n - - showq
            anvil     unix  - - n - 1 anvil
            scache    unix  - - n - 1 scache
            postlog   unix-dgram n - n - 1 postlogd
            """);

        var relay = new PostfixRelay(dir, X509CertificateLoader.LoadCertificate(certificate.RawData));
        await Run("/usr/sbin/postfix", "-c", dir, "start");
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (true)
        {
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(IPAddress.Loopback, Port, cts.Token);
                return relay;
            }
            catch (SocketException)
            {
                await Task.Delay(100, cts.Token);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Run("/usr/sbin/postfix", "-c", _dir, "stop");
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
            // Postfix daemons may still be closing files; the directory is under /tmp.
        }
    }

    private static Task Run(string file, params string[] arguments) =>
        // Stopping an instance that already stopped is not an error worth failing a test for.
        LocalSystem.RunAsync(file, arguments, throwOnFailure: !(arguments.Length > 0 && arguments[^1] == "stop"));
}
