using AyTrack.Core.Configuration;
using AyTrack.Node;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Xunit;

namespace AyTrack.Integration.Tests;

/// <summary>
/// A node with a configuration typo does not start, says every key that is wrong and why, and touches nothing in its
/// data directory first (no secrets key, no spool, no journal).
/// </summary>
public sealed class ConfigurationValidationTests : IDisposable
{
    private readonly string _dataDir = Path.Combine(Directory.CreateTempSubdirectory("aytrack-config").FullName, "data");

    [Fact]
    public void Every_wrong_key_is_named_at_once_and_nothing_is_created()
    {
        var error = Assert.Throws<OptionsValidationException>(() => NodeHost.Build(
        [
            $"--AyTrack:DataDir={_dataDir}",
            "--AyTrack:Listener:Endpoint=localhost:25",
            "--AyTrack:Listener:MaxLineLength=100",
            "--AyTrack:Listener:AllowedNetworks:0=10.0.0.0/33",
            "--AyTrack:Dns:Servers:0=not-an-address",
            "--AyTrack:Storage:ProbeInterval=00:00:00",
            "--AyTrack:Settings:Timing:Threads=0",
            "--AyTrack:Settings:Timing:Schedule:Windows:0:Days:0=Mon",
            "--AyTrack:Settings:Timing:Schedule:Windows:0:Start=25:00",
            "--AyTrack:Settings:Timing:Schedule:Windows:0:End=26:00",
            "--AyTrack:Cluster:NumberOfShards=0",
        ]));

        Assert.Equal(typeof(AyTrackOptions), error.OptionsType);
        foreach (var key in new[]
                 {
                     "AyTrack:Listener:Endpoint", "AyTrack:Listener:MaxLineLength", "AyTrack:Listener:AllowedNetworks",
                     "AyTrack:Dns:Servers", "AyTrack:Storage:ProbeInterval", "AyTrack:Settings:Timing:Threads",
                     "AyTrack:Settings:Timing:Schedule:Windows:0:Start", "AyTrack:Cluster:NumberOfShards",
                 })
        {
            Assert.Contains(error.Failures, f => f.StartsWith(key, StringComparison.Ordinal));
        }

        Assert.Contains("AyTrack:Listener:MaxLineLength must be between 512 and 1048576 octets", error.Message);
        Assert.False(Directory.Exists(_dataDir), "the data directory was created before the configuration was checked");
    }

    [Fact]
    public void Submission_without_a_certificate_and_an_unreadable_certificate_are_refused_by_key()
    {
        var error = Assert.Throws<OptionsValidationException>(() => NodeHost.Build(
        [
            $"--AyTrack:DataDir={_dataDir}",
            "--AyTrack:Submission:Endpoint=127.0.0.1:0",
            "--AyTrack:Submission:TlsEndpoint=not-an-endpoint",
        ]));
        Assert.Contains(error.Failures, f => f.StartsWith("AyTrack:Submission:Endpoint", StringComparison.Ordinal) && f.Contains("CertificatePath"));
        Assert.Contains(error.Failures, f => f.StartsWith("AyTrack:Submission:TlsEndpoint", StringComparison.Ordinal));

        var missing = Path.Combine(Path.GetTempPath(), Guid.NewGuid().ToString("N") + ".pem");
        var unreadable = Assert.Throws<OptionsValidationException>(() => NodeHost.Build(
            [$"--AyTrack:DataDir={_dataDir}", $"--AyTrack:Listener:Tls:CertificatePath={missing}"]));
        Assert.Contains(unreadable.Failures, f => f.StartsWith("AyTrack:Listener:Tls:CertificatePath", StringComparison.Ordinal) && f.Contains(missing));
        Assert.False(Directory.Exists(_dataDir));
    }

    [Fact]
    public async Task The_host_runs_the_same_validator_when_it_starts()
    {
        // Registered for ValidateOnStart: the options the host resolves pass through AyTrackOptionsValidator.
        await using var app = NodeHost.Build([$"--AyTrack:DataDir={_dataDir}", "--AyTrack:Listener:Endpoint=127.0.0.1:0", "--AyTrack:Admin:Url=http://127.0.0.1:0"]);
        Assert.Contains(app.Services.GetServices<IValidateOptions<AyTrackOptions>>(), v => v is AyTrackOptionsValidator);
        Assert.Equal("127.0.0.1:0", app.Services.GetRequiredService<IOptions<AyTrackOptions>>().Value.Listener.Endpoint);
    }

    public void Dispose()
    {
        var root = Path.GetDirectoryName(_dataDir)!;
        if (Directory.Exists(root))
        {
            Directory.Delete(root, true);
        }
    }
}
