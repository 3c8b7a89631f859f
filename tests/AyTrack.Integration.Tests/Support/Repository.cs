namespace AyTrack.Integration.Tests.Support;

/// <summary>The checkout the tests run from, for tests of its scripts and manifests.</summary>
public static class Repository
{
    public static string Root { get; } = Find();

    private static string Find()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "AyTrack.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("AyTrack.sln not found above " + AppContext.BaseDirectory);
    }
}
