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

    [Fact]
    public void A_line_that_cannot_be_written_is_reported_not_thrown_and_the_next_write_opens_the_file_again()
    {
        var dir = Directory.CreateTempSubdirectory("aytrack-log").FullName;
        // A directory where the file should be: every open fails, as it does with a full disk or no descriptors left.
        var blocker = Directory.CreateDirectory(Path.Combine(dir, "delivery.log"));
        var reported = new List<string>();
        using (var log = new DeliveryLog(dir, new DeliveryLogOptions(), null, new ListLogger(reported)))
        {
            log.Write([Entry("q1")]);
            Assert.Contains(reported, r => r.Contains("Could not write 1 line(s) to the delivery log") && r.Contains("they are lost"));

            blocker.Delete();
            log.Write([Entry("q2")]);
        }

        var line = Assert.Single(File.ReadAllLines(Path.Combine(dir, "delivery.log")));
        Assert.Equal("q2", JsonDocument.Parse(line).RootElement.GetProperty("queueId").GetString());
        Directory.Delete(dir, true);
    }

    private static DeliveryLogEntry Entry(string id) =>
        new(DateTimeOffset.UnixEpoch, id, null, "u@a.test", "delivered", "250 2.0.0 ok", "mx.a.test", "127.0.0.2", true, 1);

    private sealed class ListLogger(List<string> lines) : Microsoft.Extensions.Logging.ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;

        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state,
            Exception? exception, Func<TState, Exception?, string> formatter) => lines.Add(formatter(state, exception));
    }
}
