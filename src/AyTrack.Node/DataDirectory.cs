using System.Runtime.InteropServices;

namespace AyTrack.Node;

/// <summary>
/// The data directory holds mail, keys and tokens: it is made 0700 and every file in it 0600, whatever the umask the
/// node was started with. The node's program also sets its umask to 077 (<see cref="RestrictNewFiles"/>), so files
/// SQLite and the logs create later are 0600 too; a host that embeds the node (the tests) keeps its own umask.
/// </summary>
public static class DataDirectory
{
    private const UnixFileMode OwnerOnlyDirectory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode OwnerOnlyFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode Others = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute |
                                       UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    /// <summary>Files this process creates from now on get no permission bits for group or others (umask 077).</summary>
    public static void RestrictNewFiles()
    {
        if (!OperatingSystem.IsWindows())
        {
            _ = umask(0x3F);
        }
    }

    /// <summary>Creates or tightens the directory; returns a warning when it was open to others before.</summary>
    public static string? Prepare(string dataDir)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(dataDir);
            return null;
        }

        string? warning = null;
        if (Directory.Exists(dataDir))
        {
            var mode = File.GetUnixFileMode(dataDir);
            if ((mode & Others) != 0)
            {
                warning = $"The data directory {dataDir} was readable by others ({Convert.ToString((int)mode, 8)}); it is now 0700 and its files 0600. " +
                          "Check who read it meanwhile: it holds mail, the admin token and the secrets key.";
                File.SetUnixFileMode(dataDir, OwnerOnlyDirectory);
            }
        }
        else
        {
            Directory.CreateDirectory(dataDir, OwnerOnlyDirectory);
        }

        foreach (var file in Directory.EnumerateFiles(dataDir))
        {
            if ((File.GetUnixFileMode(file) & Others) != 0)
            {
                File.SetUnixFileMode(file, OwnerOnlyFile);
            }
        }

        return warning;
    }

    // umask(2) takes and returns a mode_t (unsigned 32-bit on Linux); no pointers, so no marshalling to generate.
#pragma warning disable SYSLIB1054
    [DllImport("libc", EntryPoint = "umask")]
    private static extern uint umask(uint mask);
#pragma warning restore SYSLIB1054
}
