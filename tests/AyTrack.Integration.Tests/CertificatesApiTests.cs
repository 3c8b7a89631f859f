using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using AyTrack.Cli;
using AyTrack.Integration.Tests.Support;
using AyTrack.Loopback;
using Xunit;

namespace AyTrack.Integration.Tests;

/// <summary>Trusted certificates for the external server: added from PEM, listed, pinned by fingerprint, removed.</summary>
public sealed class CertificatesApiTests
{
    [Fact]
    public async Task A_CA_is_added_from_PEM_listed_with_its_fingerprint_and_removed()
    {
        await using var world = LoopbackWorld.Create();
        await using var node = await TestNode.StartAsync(world);
        using var certificate = SmtpSink.CreateCertificate("relay.example.test");
        var fingerprint = certificate.GetCertHashString(HashAlgorithmName.SHA256).ToLowerInvariant();
        Assert.Equal(HttpStatusCode.NotFound, (await node.Http.GetAsync("/api/certs/last-refused")).StatusCode);

        var added = await node.Http.PostAsJsonAsync("/api/certs", new { pem = certificate.ExportCertificatePem(), kind = "ca" });
        Assert.Equal(HttpStatusCode.Created, added.StatusCode);
        var pinned = await node.Http.PostAsJsonAsync("/api/certs", new { kind = "Pinned", sha256 = new string('a', 64) });
        Assert.Equal(HttpStatusCode.Created, pinned.StatusCode);

        var list = await node.Http.GetFromJsonAsync<JsonElement>("/api/certs");
        var ca = list.EnumerateArray().Single(c => c.GetProperty("kind").GetString() == "Ca");
        Assert.Equal(fingerprint, ca.GetProperty("sha256").GetString());
        Assert.Equal("CN=relay.example.test", ca.GetProperty("subject").GetString());
        Assert.Equal(2, list.GetArrayLength());
        var settings = await node.Http.GetFromJsonAsync<JsonElement>("/api/settings");
        Assert.Equal(2, settings.GetProperty("trustedCertificates").GetArrayLength());

        Assert.Equal(HttpStatusCode.NoContent, (await node.Http.DeleteAsync($"/api/certs/{fingerprint}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await node.Http.DeleteAsync($"/api/certs/{fingerprint}")).StatusCode);
        Assert.Single((await node.Http.GetFromJsonAsync<JsonElement>("/api/certs")).EnumerateArray());
    }

    [Fact]
    public async Task Bad_certificate_requests_get_400_naming_the_field()
    {
        await using var world = LoopbackWorld.Create();
        await using var node = await TestNode.StartAsync(world);

        var garbage = await node.Http.PostAsJsonAsync("/api/certs", new { pem = "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----", kind = "Ca" });
        var kind = await node.Http.PostAsJsonAsync("/api/certs", new { pem = "x", kind = "Sometimes" });

        Assert.Equal(HttpStatusCode.BadRequest, garbage.StatusCode);
        Assert.True((await garbage.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("errors").TryGetProperty("pem", out _));
        Assert.True((await kind.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("errors").TryGetProperty("kind", out _));
    }

    [Fact]
    public async Task The_certs_palette_adds_lists_and_removes_from_a_PEM_file()
    {
        await using var world = LoopbackWorld.Create();
        await using var node = await TestNode.StartAsync(world);
        using var certificate = SmtpSink.CreateCertificate("relay.cli.test");
        var file = Path.Combine(node.DataDir, "relay.pem");
        await File.WriteAllTextAsync(file, certificate.ExportCertificatePem());
        var fingerprint = certificate.GetCertHashString(HashAlgorithmName.SHA256).ToLowerInvariant();
        string[] connection = ["--url", node.AdminUrl.ToString(), "--token", node.Token];

        var add = new StringWriter();
        Assert.Equal(0, await AyTrackCli.RunAsync(["certs", "add", file, "--kind", "Pinned", .. connection], add, TextWriter.Null));
        var list = new StringWriter();
        Assert.Equal(0, await AyTrackCli.RunAsync(["certs", "list", .. connection], list, TextWriter.Null));
        var remove = new StringWriter();
        Assert.Equal(0, await AyTrackCli.RunAsync(["certs", "remove", fingerprint, .. connection], remove, TextWriter.Null));

        Assert.Contains($"trusted (Pinned): CN=relay.cli.test sha256 {fingerprint}", add.ToString());
        Assert.Matches($@"Pinned\s+{fingerprint}\s+CN=relay\.cli\.test", list.ToString());
        Assert.Contains($"removed {fingerprint}", remove.ToString());
    }
}
