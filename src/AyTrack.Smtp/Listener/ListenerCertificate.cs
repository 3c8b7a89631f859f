using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using AyTrack.Core.Configuration;
using Microsoft.Extensions.Logging;

namespace AyTrack.Smtp.Listener;

/// <summary>
/// The listeners' TLS certificate (AyTrack:Listener:Tls:*), reloaded when its files change: certbot-style renewals
/// (new files behind the same symlinks) and in-place copies are both seen, at most a second late, without a restart.
/// A file that cannot be loaded at reload (half written, wrong password) leaves the previous certificate in use and is
/// reported once per change.
/// </summary>
public sealed class ListenerCertificate
{
    private static readonly TimeSpan CheckEvery = TimeSpan.FromSeconds(1);

    private readonly ListenerTlsOptions _options;
    private readonly ILogger? _logger;
    private readonly Lock _lock = new();
    // Read by every handshake without the lock; replaced whole under it.
    private volatile Loaded _current;
    private string _failedStamp = string.Empty;
    private DateTime _nextCheck;

    private sealed record Loaded(string Stamp, SslStreamCertificateContext Context, X509Certificate2 Leaf);

    private ListenerCertificate(ListenerTlsOptions options, ILogger? logger, Loaded loaded)
    {
        _options = options;
        _logger = logger;
        _current = loaded;
        _nextCheck = DateTime.UtcNow + CheckEvery;
    }

    /// <summary>Loads the configured certificate; throws <see cref="InvalidOperationException"/> saying why it cannot.</summary>
    public static ListenerCertificate Load(ListenerTlsOptions options, ILogger? logger)
    {
        var loaded = LoadFiles(options);
        var certificate = new ListenerCertificate(options, logger, loaded);
        certificate.WarnIfExpiring(loaded.Leaf);
        return certificate;
    }

    /// <summary>Why the configured certificate cannot be used, or null: checked at start with the other settings.</summary>
    public static string? Problem(ListenerTlsOptions options)
    {
        try
        {
            LoadFiles(options);
            return null;
        }
        catch (InvalidOperationException error)
        {
            return error.Message;
        }
    }

    /// <summary>The certificate to offer now (after a reload if the files changed).</summary>
    public SslStreamCertificateContext Context
    {
        get
        {
            ReloadIfChanged();
            return _current.Context;
        }
    }

    public X509Certificate2 Leaf => _current.Leaf;

    private void ReloadIfChanged()
    {
        var now = DateTime.UtcNow;
        if (now < _nextCheck)
        {
            return;
        }

        lock (_lock)
        {
            if (now < _nextCheck)
            {
                return;
            }

            _nextCheck = now + CheckEvery;
            string stamp;
            try
            {
                stamp = Stamp(_options);
            }
            catch (Exception error) when (error is IOException or UnauthorizedAccessException)
            {
                return;
            }

            if (stamp == _current.Stamp || stamp == _failedStamp)
            {
                return;
            }

            try
            {
                var loaded = LoadFiles(_options);
                _current = loaded;
                _failedStamp = string.Empty;
                _logger?.LogInformation("Listener certificate reloaded: {Subject}, SHA-256 {Thumbprint}, valid until {NotAfter:u}",
                    loaded.Leaf.Subject, loaded.Leaf.GetCertHashString(HashAlgorithmName.SHA256), loaded.Leaf.NotAfter.ToUniversalTime());
                WarnIfExpiring(loaded.Leaf);
            }
            catch (InvalidOperationException error)
            {
                _failedStamp = stamp;
                _logger?.LogWarning("Listener certificate changed on disk but cannot be loaded ({Error}); still offering {Subject}",
                    error.Message, _current.Leaf.Subject);
            }
        }
    }

    private void WarnIfExpiring(X509Certificate2 leaf)
    {
        var left = leaf.NotAfter.ToUniversalTime() - DateTime.UtcNow;
        if (left < TimeSpan.FromDays(14))
        {
            _logger?.LogWarning("Listener certificate {Subject} {State} {NotAfter:u}", leaf.Subject,
                left <= TimeSpan.Zero ? "expired on" : "expires on", leaf.NotAfter.ToUniversalTime());
        }
    }

    private static Loaded LoadFiles(ListenerTlsOptions options)
    {
        var path = options.CertificatePath!;
        try
        {
            var stamp = Stamp(options);
            var (leaf, chain) = IsPem(path) ? LoadPem(path, options.KeyPath, options.CertificatePassword) : LoadPkcs12(path, options.CertificatePassword);
            if (!leaf.HasPrivateKey)
            {
                throw new InvalidOperationException($"{path}: no private key for the certificate {leaf.Subject}");
            }

            var context = SslStreamCertificateContext.Create(leaf, chain, offline: true);
            return new Loaded(stamp, context, leaf);
        }
        catch (Exception error) when (error is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new InvalidOperationException($"{path}: {error.Message}", error);
        }
    }

    private static bool IsPem(string path)
    {
        using var file = File.OpenRead(path);
        var head = new byte[Math.Min(4096, file.Length)];
        file.ReadExactly(head);
        return System.Text.Encoding.ASCII.GetString(head).Contains("-----BEGIN", StringComparison.Ordinal);
    }

    private static (X509Certificate2, X509Certificate2Collection) LoadPem(string path, string? keyPath, string? password)
    {
        var key = string.IsNullOrWhiteSpace(keyPath) ? null : keyPath;
        var leaf = string.IsNullOrEmpty(password)
            ? X509Certificate2.CreateFromPemFile(path, key)
            : X509Certificate2.CreateFromEncryptedPemFile(path, password, key);
        var all = new X509Certificate2Collection();
        all.ImportFromPemFile(path);
        var chain = new X509Certificate2Collection();
        foreach (var certificate in all.Where(c => c.Thumbprint != leaf.Thumbprint))
        {
            chain.Add(certificate);
        }

        return (leaf, chain);
    }

    private static (X509Certificate2, X509Certificate2Collection) LoadPkcs12(string path, string? password)
    {
        var all = X509CertificateLoader.LoadPkcs12CollectionFromFile(path, password);
        var leaf = all.FirstOrDefault(c => c.HasPrivateKey)
                   ?? throw new InvalidOperationException($"{path}: the PKCS#12 file holds no certificate with a private key");
        var chain = new X509Certificate2Collection();
        foreach (var certificate in all.Where(c => !ReferenceEquals(c, leaf)))
        {
            chain.Add(certificate);
        }

        return (leaf, chain);
    }

    /// <summary>What identifies the files' content cheaply: the final target of each path (through symlinks), its time and size.</summary>
    private static string Stamp(ListenerTlsOptions options) =>
        string.Join('|', new[] { options.CertificatePath, options.KeyPath }.Where(p => !string.IsNullOrWhiteSpace(p)).Select(p =>
        {
            var file = new FileInfo(p!);
            var target = file.ResolveLinkTarget(returnFinalTarget: true) as FileInfo ?? file;
            target.Refresh();
            return target.Exists
                ? $"{target.FullName}:{target.LastWriteTimeUtc.Ticks}:{target.Length}"
                : throw new FileNotFoundException($"{p} does not exist");
        }));
}
