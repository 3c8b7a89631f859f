using System.Diagnostics;
using AyTrack.Integration.Tests.Support;
using AyTrack.Loopback;
using MailKit.Net.Smtp;
using Microsoft.Data.Sqlite;
using Xunit;
using Xunit.Abstractions;

namespace AyTrack.Integration.Tests;

/// <summary>After thousands of messages, what stays on disk is bounded: the spool empties and the journal is compacted.</summary>
public sealed class HousekeepingTests(ITestOutputHelper output)
{
    [Fact]
    public async Task After_thousands_of_messages_the_spool_is_empty_and_the_journal_holds_only_recent_events()
    {
        const int count = 2_000;
        await using var world = LoopbackWorld.Create();
        var sinks = new[] { world.AddDomain("one.test"), world.AddDomain("two.test") };
        await using var node = await TestNode.StartAsync(world);

        var clock = Stopwatch.StartNew();
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, 8).Select(async _ =>
        {
            using var client = new SmtpClient();
            await client.ConnectAsync(node.SmtpEndpoint.Address.ToString(), node.SmtpEndpoint.Port, MailKit.Security.SecureSocketOptions.None);
            int i;
            while ((i = Interlocked.Increment(ref next)) < count)
            {
                await client.SendAsync(TestNode.NewMessage("app@sender.test", [$"user{i}@{(i % 2 == 0 ? "one" : "two")}.test"], $"m{i}"));
            }

            await client.DisconnectAsync(true);
        }));
        await Task.WhenAll(sinks.Select(s => s.WaitForAsync(count / 2, TimeSpan.FromMinutes(3))));
        var elapsed = clock.Elapsed;

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while ((await node.Spool.CountAsync(cts.Token)).Messages > 0)
        {
            await Task.Delay(50, cts.Token);
        }

        // Every event before the latest snapshot is deleted, and a queue that empties is snapshotted once 20 events
        // have passed since the last snapshot. So once the domains are idle and housekeeping has caught up, each keeps
        // fewer than 20 events plus the newest deleted row that the journal keeps for its sequence number.
        var rows = new Dictionary<string, long>();
        await Eventually.UntilAsync(async () =>
        {
            rows = await JournalRowsAsync(node.DataDir);
            return rows.Count == 2 && rows.Values.All(events => events is >= 1 and <= 21);
        }, TimeSpan.FromSeconds(30));

        Assert.Equal(["domain-one.test", "domain-two.test"], rows.Keys.Order());
        output.WriteLine($"{count} messages delivered in {elapsed.TotalSeconds:F1} s; journal rows left per domain: " +
                         string.Join(", ", rows.Select(r => $"{r.Key}={r.Value}")));
    }

    private static async Task<Dictionary<string, long>> JournalRowsAsync(string dataDir)
    {
        await using var journal = new SqliteConnection($"Data Source={Path.Combine(dataDir, "journal.db")};Mode=ReadOnly;Pooling=False");
        await journal.OpenAsync();
        await using var query = journal.CreateCommand();
        query.CommandText = "SELECT persistence_id, COUNT(*) FROM journal WHERE persistence_id LIKE 'domain-%' GROUP BY persistence_id";
        var rows = new Dictionary<string, long>();
        await using var reader = await query.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            rows[reader.GetString(0)] = reader.GetInt64(1);
        }

        return rows;
    }
}
