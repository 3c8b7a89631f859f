using System.Text.Json;
using AyTrack.Core.Configuration;
using AyTrack.Core.Delivery;
using AyTrack.Smtp.Logging;
using Xunit;

namespace AyTrack.Core.Tests;

public sealed class DeliveryLogTests
{
    [Fact]
    public void Each_attempt_is_one_JSON_line_and_the_log_rotates_by_size_keeping_the_newest_files()
    {
        var dir = Directory.CreateTempSubdirectory("aytrack-log").FullName;
        using (var log = new DeliveryLog(dir, new DeliveryLogOptions { MaxFileSize = 1_000, MaxFiles = 2 }))
        {
            for (var i = 0; i < 30; i++)
            {
                log.Write([new DeliveryLogEntry(DateTimeOffset.UnixEpoch, $"q{i}", null, $"u{i}@a.test", "delivered", "250 2.0.0 ok", "mx.a.test", "127.0.0.2", true, 1)]);
            }
        }

        var files = Directory.GetFiles(dir).Select(Path.GetFileName).Order().ToList();
        Assert.Equal(["delivery.log", "delivery.log.1", "delivery.log.2"], files);
        Assert.All(files, f => Assert.True(new FileInfo(Path.Combine(dir, f!)).Length <= 1_000));
        var last = File.ReadAllLines(Path.Combine(dir, "delivery.log")).Last();
        var entry = JsonDocument.Parse(last).RootElement;
        Assert.Equal("q29", entry.GetProperty("queueId").GetString());
        Assert.Equal("u29@a.test", entry.GetProperty("recipient").GetString());
        Assert.Equal("127.0.0.2", entry.GetProperty("ip").GetString());
        Assert.False(entry.TryGetProperty("messageId", out _));
        Directory.Delete(dir, true);
    }
}
