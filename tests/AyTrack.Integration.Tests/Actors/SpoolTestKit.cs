using Akka.TestKit.Xunit2;
using AyTrack.Core.Addresses;
using AyTrack.Spool;
using Xunit;

namespace AyTrack.Integration.Tests.Actors;

/// <summary>A TestKit for a domain actor's tests: a real SQLite spool in a directory of its own, removed afterwards.</summary>
public abstract class SpoolTestKit(string config) : TestKit(config), IAsyncLifetime
{
    protected static readonly RecipientDomain Domain = new("alpha.test");

    private readonly string _dir = Directory.CreateTempSubdirectory("aytrack-actors").FullName;

    protected SqliteSpool Spool { get; private set; } = null!;

    public async Task InitializeAsync() => Spool = await SqliteSpool.OpenAsync(Path.Combine(_dir, "spool.db"));

    public async Task DisposeAsync()
    {
        await Spool.DisposeAsync();
        Directory.Delete(_dir, true);
    }
}
