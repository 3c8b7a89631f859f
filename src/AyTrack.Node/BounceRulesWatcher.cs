using AyTrack.Core.Bounces;

namespace AyTrack.Node;

/// <summary>
/// Reloads AyTrack:Delivery:BounceRulesPath when the file changes. A file that no longer parses is refused with its
/// line and the rules in force stay, so a half-saved edit cannot turn every failure into Other.
/// </summary>
public sealed class BounceRulesWatcher(string path, BounceClassifier classifier, ILogger<BounceRulesWatcher> logger) : IHostedService, IDisposable
{
    private FileWatch? _watch;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _watch = FileWatch.Start(path, () => Reload(Path.GetFullPath(path)));
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose() => _watch?.Dispose();

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
