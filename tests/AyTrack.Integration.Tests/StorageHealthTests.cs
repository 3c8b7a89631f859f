using System.Net.Http.Headers;
using System.Net.Http.Json;
using AyTrack.Contracts;
using AyTrack.Integration.Tests.Support;
using AyTrack.Loopback;
using Xunit;

namespace AyTrack.Integration.Tests;

/// <summary>
/// Damage is never silent: a data directory open to others is closed and reported, a clean stop leaves the spool in
/// one file, a damaged spool page is found at start and reported, and a database that goes away turns the node down
/// until it is back.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class StorageHealthTests
{
    private const UnixFileMode OwnerOnlyFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    [Fact]
    public async Task The_data_directory_is_owner_only_and_a_clean_stop_folds_the_spool_into_one_file()
    {
        await using var world = LoopbackWorld.Create();
        var dataDir = Directory.CreateTempSubdirectory("aytrack-data").FullName;
        File.SetUnixFileMode(dataDir, (UnixFileMode)Convert.ToInt32("755", 8));
        File.WriteAllText(Path.Combine(dataDir, "notes.txt"), "left by an operator");
        File.SetUnixFileMode(Path.Combine(dataDir, "notes.txt"), (UnixFileMode)Convert.ToInt32("644", 8));
        world.AddDownHost("mx.down.test");
        world.Dns.AddMx("down.test", 10, "mx.down.test");

        var node = await NodeProcess.StartAsync(dataDir, world.NodeArguments(dataDir));
        await using (node)
        {
            using var smtp = new MailKit.Net.Smtp.SmtpClient();
            await smtp.ConnectAsync(node.SmtpEndpoint.Address.ToString(), node.SmtpEndpoint.Port, MailKit.Security.SecureSocketOptions.None);
            await smtp.SendAsync(TestNode.NewMessage("app@sender.test", ["a@down.test"], "kept"));
            await smtp.DisconnectAsync(true);

            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(dataDir));
            Assert.All(Directory.GetFiles(dataDir).Where(f => !Path.GetFileName(f).StartsWith("node-", StringComparison.Ordinal)),
                file => Assert.True(File.GetUnixFileMode(file) == OwnerOnlyFile, $"{Path.GetFileName(file)} is {File.GetUnixFileMode(file)}"));
            Assert.Contains($"The data directory {dataDir} was readable by others", Log(dataDir));

            node.Terminate();
            await node.WaitForExitAsync(TimeSpan.FromSeconds(60));
        }

        var wal = Path.Combine(dataDir, "spool.db-wal");
        Assert.True(!File.Exists(wal) || new FileInfo(wal).Length == 0, "spool.db-wal still holds pages after a clean stop");
    }

    [Fact]
    public async Task A_damaged_spool_page_is_found_at_start_and_reported_without_a_token_leaking_details()
    {
        await using var world = LoopbackWorld.Create();
        var dataDir = Directory.CreateTempSubdirectory("aytrack-damaged").FullName;
        world.AddDownHost("mx.down.test");
        world.Dns.AddMx("down.test", 10, "mx.down.test");
        var node = await NodeProcess.StartAsync(dataDir, world.NodeArguments(dataDir));
        await using (node)
        {
            using var smtp = new MailKit.Net.Smtp.SmtpClient();
            await smtp.ConnectAsync(node.SmtpEndpoint.Address.ToString(), node.SmtpEndpoint.Port, MailKit.Security.SecureSocketOptions.None);
            for (var i = 0; i < 40; i++)
            {
                await smtp.SendAsync(TestNode.NewMessage("app@sender.test", [$"u{i}@down.test"], $"message {i}", new string('x', 4000)));
            }

            await smtp.DisconnectAsync(true);
            node.Terminate();
            await node.WaitForExitAsync(TimeSpan.FromSeconds(60));
        }

        // Scribble over the middle of the file (not its header and schema page), as a failing disk would.
        var spool = Path.Combine(dataDir, "spool.db");
        await using (var file = new FileStream(spool, FileMode.Open, FileAccess.Write))
        {
            Assert.True(file.Length > 8 * 4096, $"spool.db is only {file.Length} bytes");
            file.Position = file.Length / 2 / 4096 * 4096;
            file.Write(Enumerable.Repeat((byte)0xA5, 4096).ToArray());
        }

        await using var damaged = await NodeProcess.StartAsync(dataDir, world.NodeArguments(dataDir));
        using var anonymous = new HttpClient { BaseAddress = damaged.AdminUrl };
        using var admin = new HttpClient { BaseAddress = damaged.AdminUrl };
        admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", File.ReadAllText(Path.Combine(dataDir, "admin.token")));
        HealthSummary? summary = null;
        await Eventually.UntilAsync(async () => (summary = await anonymous.GetFromJsonAsync<HealthSummary>("/healthz", AyTrack.Cli.AdminClient.Json))!
            .Reasons.Contains(HealthCodes.StorageDamaged), TimeSpan.FromSeconds(30));

        Assert.Equal("degraded", summary!.Status);
        var report = await admin.GetFromJsonAsync<HealthReport>("/api/health", AyTrack.Cli.AdminClient.Json);
        Assert.Contains("spool.db", report!.Components.Single(c => c.Name == "storage").Detail);
        Assert.Contains("docs/security.md (\"Damaged storage\")", Log(dataDir));
    }

    [Fact]
    public async Task A_database_that_goes_away_makes_the_node_down_until_it_is_back()
    {
        await using var world = LoopbackWorld.Create();
        await using var cluster = await TestCluster.StartAsync(world, 1, "--AyTrack:Storage:ProbeInterval=00:00:01");
        using var anonymous = new HttpClient { BaseAddress = cluster.Nodes[0].Process.AdminUrl };

        await cluster.Postgres.StopAsync();
        HealthSummary? summary = null;
        await Eventually.UntilAsync(async () =>
        {
            var response = await anonymous.GetAsync("/healthz");
            summary = await response.Content.ReadFromJsonAsync<HealthSummary>(AyTrack.Cli.AdminClient.Json);
            return response.StatusCode == System.Net.HttpStatusCode.ServiceUnavailable && summary!.Status == "down";
        }, TimeSpan.FromSeconds(30));
        Assert.Contains(HealthCodes.SpoolUnwritable, summary!.Reasons);
        Assert.Contains(HealthCodes.JournalUnreachable, summary.Reasons);

        await cluster.Postgres.RestartAsync();
        await Eventually.UntilAsync(async () => (await (await anonymous.GetAsync("/healthz")).Content
            .ReadFromJsonAsync<HealthSummary>(AyTrack.Cli.AdminClient.Json))!.Status == "ok", TimeSpan.FromSeconds(60));
    }

    private static string Log(string dataDir) => string.Join('\n', Directory.GetFiles(dataDir, "node-*.log").Select(f =>
    {
        using var stream = new FileStream(f, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        return new StreamReader(stream).ReadToEnd();
    }));
}
