using System.Reflection;

namespace AyTrack.Node;

/// <summary>
/// Loads every assembly the node references, directly or not, at start. .NET loads an assembly on first use and
/// remembers a failed load for the life of the process: a node whose descriptors run out (a connection flood, EMFILE)
/// before it first touched the journal would otherwise fail to load the journal's libraries then, and keep failing
/// after the descriptors are back. Loaded at start, nothing is left to open later.
/// </summary>
internal static class AssemblyPreload
{
    public static void LoadReferencedAssemblies(Assembly root)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal) { root.FullName! };
        var queue = new Queue<Assembly>([root]);
        while (queue.TryDequeue(out var assembly))
        {
            foreach (var name in assembly.GetReferencedAssemblies())
            {
                if (!seen.Add(name.FullName))
                {
                    continue;
                }

                try
                {
                    queue.Enqueue(Assembly.Load(name));
                }
                catch (Exception error) when (error is FileNotFoundException or FileLoadException or BadImageFormatException)
                {
                    // A reference for another platform or an optional feature that is not deployed: nothing to preload.
                }
            }
        }
    }
}
