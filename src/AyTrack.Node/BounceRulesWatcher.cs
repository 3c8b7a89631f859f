using AyTrack.Core.Bounces;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Primitives;

namespace AyTrack.Node;

/// <summary>
/// Reloads AyTrack:Delivery:BounceRulesPath when the file changes. A file that no longer parses is refused with its
/// line and the rules in force stay, so a half-saved edit cannot turn every failure into Other.
/// </summary>
public sealed class BounceRulesWatcher(string path, BounceClassifier classifier, ILogger<BounceRulesWatcher> logger) : IHostedService, IDisposable
{
    private PhysicalFileProvider? _files;
    private IDisposable? _subscription;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(path))
        {
            return Task.CompletedTask;
        }

        var full = Path.GetFullPath(path);
        // Polling as well as inotify: editors replace files by rename, and some file systems (bind mounts, NFS) send no events.
        _files = new PhysicalFileProvider(Path.GetDirectoryName(full)!) { UsePollingFileWatcher = true, UseActivePolling = true };
        _subscription = ChangeToken.OnChange(() => _files.Watch(Path.GetFileName(full)), () => Reload(full));
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose()
    {
        _subscription?.Dispose();
        _files?.Dispose();
    }

    private void Reload(string full)
    {
        try
        {
            var rules = BounceRulesFile.Load(full);
            classifier.Rules = rules;
            logger.LogInformation("Bounce rules reloaded from {Path}: {Count} rules", full, rules.Rules.Count);
        }
        catch (FormatException error)
        {
            logger.LogError("Bounce rules not reloaded, the rules in force stay: {Problem}", error.Message);
        }
    }
}
