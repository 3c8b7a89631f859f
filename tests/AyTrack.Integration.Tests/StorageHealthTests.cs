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
public sealed class StorageHealthTests(Xunit.Abstractions.ITestOutputHelper output)
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
            Assert.Contains($"The data directory {dataDir} was readable by others", NodeProcess.ReadLogs(dataDir));

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
        using var admin = damaged.CreateAdminClient();
        HealthSummary? summary = null;
        await Eventually.UntilAsync(async () => (summary = await anonymous.GetFromJsonAsync<HealthSummary>("/healthz", AyTrack.Cli.AdminClient.Json))!
            .Reasons.Contains(HealthCodes.StorageDamaged), TimeSpan.FromSeconds(30));

        Assert.Equal("degraded", summary!.Status);
        var report = await admin.GetFromJsonAsync<HealthReport>("/api/health", AyTrack.Cli.AdminClient.Json);
        Assert.Contains("spool.db", report!.Components.Single(c => c.Name == "storage").Detail);
        Assert.Contains("docs/security.md (\"Damaged storage\")", NodeProcess.ReadLogs(dataDir));
    }

    [Fact]
    public async Task A_database_that_goes_away_makes_the_node_down_until_it_is_back()
    {
        await using var world = LoopbackWorld.Create();
        var after = world.AddDomain("after.test");
        await using var cluster = await TestCluster.StartAsync(world, 1, "--AyTrack:Storage:ProbeInterval=00:00:01");
        using var anonymous = new HttpClient { BaseAddress = cluster.Nodes[0].Process.AdminUrl };

        await cluster.Postgres.StopAsync();
        HealthSummary? summary = null;
        await Eventually.UntilAsync(async () =>
        {
            var response = await anonymous.GetAsync("/healthz");
            summary = await response.Content.ReadFromJsonAsync<HealthSummary>(AyTrack.Cli.AdminClient.Json);
            // One probe round finds the spool first and the journal right after: wait for both.
            return response.StatusCode == System.Net.HttpStatusCode.ServiceUnavailable && summary!.Status == "down" &&
                   summary.Reasons.Contains(HealthCodes.JournalUnreachable);
        }, TimeSpan.FromSeconds(30));
        Assert.Contains(HealthCodes.SpoolUnwritable, summary!.Reasons);
        // Liveness asks nothing external: a database outage must not get the node restarted.
        Assert.Equal(System.Net.HttpStatusCode.OK, (await anonymous.GetAsync("/healthz/live")).StatusCode);

        await cluster.Postgres.RestartAsync();
        await Eventually.UntilAsync(async () => (await (await anonymous.GetAsync("/healthz")).Content
            .ReadFromJsonAsync<HealthSummary>(AyTrack.Cli.AdminClient.Json))!.Status == "ok", TimeSpan.FromSeconds(60));

        // The pooled connections (and the statements prepared on them) died with the server: mail accepted now goes
        // through the spool and the journal on new ones.
        using (var smtp = new MailKit.Net.Smtp.SmtpClient())
        {
            var endpoint = cluster.Nodes[0].SmtpEndpoint;
            await smtp.ConnectAsync(endpoint.Address.ToString(), endpoint.Port, MailKit.Security.SecureSocketOptions.None);
            await smtp.SendAsync(TestNode.NewMessage("app@sender.test", ["bob@after.test"], "after the restart"));
            await smtp.DisconnectAsync(true);
        }

        try
        {
            Assert.Equal("after the restart", Assert.Single(await after.WaitForAsync(1, TimeSpan.FromSeconds(60))).Parse().Subject);
        }
        catch (TimeoutException)
        {
            output.WriteLine(NodeProcess.ReadLogs(cluster.Nodes[0].Process.DataDir));
            throw;
        }
    }

    [Fact]
    public async Task A_settings_change_refused_while_the_database_is_down_is_taken_once_it_is_back()
    {
        // The settings actor's write fails while PostgreSQL is away, which stops it; the node must not be left without
        // it (no settings change, no settings for a node that joins) until someone restarts the node.
        await using var world = LoopbackWorld.Create();
        await using var cluster = await TestCluster.StartAsync(world, 1);
        var node = cluster.Nodes[0];
        await Eventually.UntilAsync(async () => (await node.PatchAsync("/api/settings", """{"timing":{"retryDays":4}}""")).IsSuccessStatusCode,
            TimeSpan.FromSeconds(60));

        await cluster.Postgres.StopAsync();
        Assert.False((await node.PatchAsync("/api/settings", """{"timing":{"retryDays":3}}""")).IsSuccessStatusCode);

        await cluster.Postgres.RestartAsync();
        await Eventually.UntilAsync(async () => (await node.PatchAsync("/api/settings", """{"timing":{"retryDays":2}}""")).IsSuccessStatusCode,
            TimeSpan.FromSeconds(90));
        var settings = await node.GetAsync<System.Text.Json.Nodes.JsonObject>("/api/settings");
        Assert.Equal(2, (double)settings["timing"]!["retryDays"]!);
    }

    [Fact]
    public async Task A_lost_journal_is_rebuilt_from_the_spool_and_its_mail_delivered()
    {
        await using var world = LoopbackWorld.Create();
        var dataDir = Directory.CreateTempSubdirectory("aytrack-lost-journal").FullName;
        var address = world.AddDownHost("mx.later.test");
        world.Dns.AddMx("later.test", 10, "mx.later.test");
        var node = await NodeProcess.StartAsync(dataDir, world.NodeArguments(dataDir));
        await using (node)
        {
            await SendAsync(node, Enumerable.Range(0, 10).Select(i => $"u{i}@later.test"));
            using var admin = node.CreateAdminClient();
            await Eventually.UntilAsync(async () => (await admin.GetFromJsonAsync<DomainQueue>("/api/queues/later.test", AyTrack.Cli.AdminClient.Json))!
                .Deferred == 10, TimeSpan.FromSeconds(30));
            node.Terminate();
            await node.WaitForExitAsync(TimeSpan.FromSeconds(60));
        }

        foreach (var file in Directory.GetFiles(dataDir, "journal.db*"))
        {
            File.Delete(file);
        }

        var sink = world.BringUp("mx.later.test", address);
        await using var restarted = await NodeProcess.StartAsync(dataDir, world.NodeArguments(dataDir));

        await Eventually.UntilAsync(() => sink.Received.Count == 10, TimeSpan.FromSeconds(60));
        Assert.Contains("rebuilding those queues from the spool", NodeProcess.ReadLogs(dataDir));
    }

    [Fact]
    public async Task A_queued_message_whose_content_is_gone_is_held_and_reported_never_bounced()
    {
        await using var world = LoopbackWorld.Create();
        var dataDir = Directory.CreateTempSubdirectory("aytrack-unreadable").FullName;
        var senderSink = world.AddDomain("sender.test");
        var address = world.AddDownHost("mx.later.test");
        world.Dns.AddMx("later.test", 10, "mx.later.test");
        string[] arguments = [.. world.NodeArguments(dataDir), "--AyTrack:Delivery:MinBackoff=00:00:00.500", "--AyTrack:Delivery:MaxBackoff=00:00:01"];
        var node = await NodeProcess.StartAsync(dataDir, arguments);
        await using (node)
        {
            await SendAsync(node, ["gone@later.test"]);
            await DeliveryLogReader.WaitForAsync(dataDir, "gone@later.test", TimeSpan.FromSeconds(30), outcome: "deferred");
            node.Terminate();
            await node.WaitForExitAsync(TimeSpan.FromSeconds(60));
        }

        // The journal still queues the message; the spool lost it (as a damaged page would lose it).
        await using (var spool = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(dataDir, "spool.db")};Pooling=false"))
        {
            await spool.OpenAsync();
            await using var delete = spool.CreateCommand();
            delete.CommandText = "DELETE FROM recipients; DELETE FROM messages;";
            await delete.ExecuteNonQueryAsync();
        }

        var sink = world.BringUp("mx.later.test", address);
        await using var restarted = await NodeProcess.StartAsync(dataDir, arguments);
        using var admin = restarted.CreateAdminClient();

        var held = await DeliveryLogReader.WaitForAsync(dataDir, "gone@later.test", TimeSpan.FromSeconds(30), outcome: "held");
        Assert.StartsWith("451 4.3.0", held.GetProperty("reply").GetString());
        var queue = await TestNode.WaitForSettledQueueAsync(admin, "later.test", _ => true, TimeSpan.FromSeconds(30));
        Assert.Equal(1, queue.Held);
        var summary = await new HttpClient { BaseAddress = restarted.AdminUrl }.GetFromJsonAsync<HealthSummary>("/healthz", AyTrack.Cli.AdminClient.Json);
        Assert.Contains(HealthCodes.StorageDamaged, summary!.Reasons);
        // Held means no retry and no bounce: nothing reaches the MX, and the sender gets no DSN.
        Assert.Empty(sink.Received);
        Assert.Empty(senderSink.Received);
        Assert.DoesNotContain(DeliveryLogReader.Read(dataDir), e => e.GetProperty("outcome").GetString() is "failed" or "bounced");
    }

    [Fact]
    public async Task Persisted_settings_that_do_not_validate_leave_the_last_valid_ones_in_force_until_a_valid_change()
    {
        await using var world = LoopbackWorld.Create();
        var dataDir = Directory.CreateTempSubdirectory("aytrack-invalid-settings").FullName;
        var node = await NodeProcess.StartAsync(dataDir, world.NodeArguments(dataDir));
        await using (node)
        {
            using var admin = node.CreateAdminClient();
            (await admin.PatchAsync("/api/settings", new StringContent("""{"timing":{"threads":7}}""", System.Text.Encoding.UTF8,
                "application/merge-patch+json"))).EnsureSuccessStatusCode();
            node.Terminate();
            await node.WaitForExitAsync(TimeSpan.FromSeconds(60));
        }

        // An older build stored an enum as its number: the next version in the journal does not validate.
        await using (var journal = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(dataDir, "journal.db")};Pooling=false"))
        {
            await journal.OpenAsync();
            await using var read = journal.CreateCommand();
            read.CommandText = "SELECT sequence_number, CAST(message AS TEXT) FROM journal WHERE persistence_id = 'aytrack-settings' ORDER BY sequence_number DESC LIMIT 1";
            long sequence;
            System.Text.Json.Nodes.JsonNode last;
            await using (var reader = await read.ExecuteReaderAsync())
            {
                await reader.ReadAsync();
                sequence = reader.GetInt64(0);
                last = System.Text.Json.Nodes.JsonNode.Parse(reader.GetString(1))!;
            }

            last["Version"] = sequence + 1;
            last["Document"] = last["Document"]!.GetValue<string>().Replace("\"mode\":\"Direct\"", "\"mode\":\"3\"").Replace("\"threads\":7", "\"threads\":9");
            await using var insert = journal.CreateCommand();
            insert.CommandText = "INSERT INTO journal(created, deleted, persistence_id, sequence_number, message, manifest, identifier, writer_uuid) " +
                                 "VALUES ($created, 0, 'aytrack-settings', $sequence, $message, 'settings.changed.v1', 4711, 'older-build')";
            insert.Parameters.AddWithValue("$created", DateTime.UtcNow.Ticks);
            insert.Parameters.AddWithValue("$sequence", sequence + 1);
            insert.Parameters.AddWithValue("$message", System.Text.Encoding.UTF8.GetBytes(last.ToJsonString()));
            await insert.ExecuteNonQueryAsync();
        }

        await using var restarted = await NodeProcess.StartAsync(dataDir, world.NodeArguments(dataDir));
        using var api = restarted.CreateAdminClient();
        using var anonymous = new HttpClient { BaseAddress = restarted.AdminUrl };
        HealthSummary? summary = null;
        await Eventually.UntilAsync(async () => (summary = await anonymous.GetFromJsonAsync<HealthSummary>("/healthz", AyTrack.Cli.AdminClient.Json))!
            .Reasons.Contains(HealthCodes.SettingsInvalid), TimeSpan.FromSeconds(30));
        Assert.Equal("degraded", summary!.Status);
        var settings = await api.GetFromJsonAsync<System.Text.Json.JsonElement>("/api/settings");
        Assert.Equal(7, settings.GetProperty("timing").GetProperty("threads").GetInt32());
        Assert.Equal("Direct", settings.GetProperty("mode").GetString());

        var repaired = await api.PatchAsync("/api/settings", new StringContent("""{"timing":{"threads":8}}""", System.Text.Encoding.UTF8,
            "application/merge-patch+json"));
        Assert.Equal(System.Net.HttpStatusCode.OK, repaired.StatusCode);
        await Eventually.UntilAsync(async () => (await anonymous.GetFromJsonAsync<HealthSummary>("/healthz", AyTrack.Cli.AdminClient.Json))!.Status == "ok",
            TimeSpan.FromSeconds(30));
    }

    private static async Task SendAsync(NodeProcess node, IEnumerable<string> recipients)
    {
        using var smtp = new MailKit.Net.Smtp.SmtpClient();
        await smtp.ConnectAsync(node.SmtpEndpoint.Address.ToString(), node.SmtpEndpoint.Port, MailKit.Security.SecureSocketOptions.None);
        foreach (var recipient in recipients)
        {
            await smtp.SendAsync(TestNode.NewMessage("app@sender.test", [recipient], "queued"));
        }

        await smtp.DisconnectAsync(true);
    }
}
