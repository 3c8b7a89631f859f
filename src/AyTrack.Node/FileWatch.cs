using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Primitives;

namespace AyTrack.Node;

/// <summary>
/// Calls back whenever a configuration file (a rules file) changes. Polling as well as inotify: editors replace files
/// by rename, and some file systems (bind mounts, NFS) send no events.
/// </summary>
internal sealed class FileWatch : IDisposable
{
    private readonly PhysicalFileProvider _files;
    private readonly IDisposable _subscription;

    private FileWatch(string path, Action changed)
    {
        var full = Path.GetFullPath(path);
        _files = new PhysicalFileProvider(Path.GetDirectoryName(full)!) { UsePollingFileWatcher = true, UseActivePolling = true };
        _subscription = ChangeToken.OnChange(() => _files.Watch(Path.GetFileName(full)), changed);
    }

    /// <summary>A watch of <paramref name="path"/>; null when no path is configured.</summary>
    public static FileWatch? Start(string? path, Action changed) => string.IsNullOrWhiteSpace(path) ? null : new FileWatch(path, changed);

    public void Dispose()
    {
        _subscription.Dispose();
        _files.Dispose();
    }
}
