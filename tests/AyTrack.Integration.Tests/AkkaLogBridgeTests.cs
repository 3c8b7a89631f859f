using System.Collections.Concurrent;
using Akka;
using Akka.Actor;
using Akka.Actor.Setup;
using Akka.Configuration;
using AyTrack.Integration.Tests.Support;
using AyTrack.Node.Logging;
using Microsoft.Extensions.Logging;
using Xunit;
using MsLogLevel = Microsoft.Extensions.Logging.LogLevel;

namespace AyTrack.Integration.Tests;

/// <summary>
/// What the bridge makes of Akka.NET's own reports: which "singleton not found" warnings of the proxy are real (those
/// that repeat a failure period apart), and which dead letters an operator should read.
/// </summary>
public sealed class AkkaLogBridgeTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Period = TimeSpan.FromSeconds(30);
    private static readonly DateTime Now = new(2026, 11, 30, 12, 0, 0, DateTimeKind.Utc);

    [Fact]
    public void The_first_tick_and_its_immediate_repeat_are_not_failures()
    {
        Assert.False(AkkaLogBridge.IsPeriodicRepeat(null, Now, Period));
        Assert.False(AkkaLogBridge.IsPeriodicRepeat(Now.AddMilliseconds(-5), Now, Period));
        // A new search long after the last one (the oldest node changed) starts with a first tick again.
        Assert.False(AkkaLogBridge.IsPeriodicRepeat(Now.AddMinutes(-10), Now, Period));
    }

    [Fact]
    public void A_warning_one_period_after_the_last_is_a_real_failure()
    {
        Assert.True(AkkaLogBridge.IsPeriodicRepeat(Now - Period, Now, Period));
        Assert.True(AkkaLogBridge.IsPeriodicRepeat(Now - Period - TimeSpan.FromSeconds(2), Now, Period));
    }

    [Fact]
    public async Task Dead_letters_are_reported_while_the_node_runs_and_logged_at_debug_once_it_is_stopping()
    {
        var lines = new ConcurrentQueue<(MsLogLevel Level, string Text)>();
        using var factory = LoggerFactory.Create(logging => logging.SetMinimumLevel(MsLogLevel.Debug).AddProvider(new CapturingProvider(lines)));
        var config = ConfigurationFactory.ParseString($"akka.loggers = [\"{typeof(AkkaLogBridge).AssemblyQualifiedName}\"]");
        var system = ActorSystem.Create("bridge", BootstrapSetup.Create().WithConfig(config).And(new AkkaLogBridgeSetup(factory)));

        // The listener subscribes to dead letters when it starts, after the system is created: one it answers has.
        await system.ActorSelection("/system/deadLetterListener").Ask<ActorIdentity>(new Identify(null), Patience);
        system.DeadLetters.Tell(new SentWhileRunning());
        await Eventually.UntilAsync(() => lines.Any(line => line.Text.Contains(nameof(SentWhileRunning))), Patience);

        // A timer tick for an actor already stopped by an earlier phase, as the cluster's replicator leaves one.
        var shutdown = CoordinatedShutdown.Get(system);
        shutdown.AddTask(CoordinatedShutdown.PhaseBeforeServiceUnbind, "late-tick", async () =>
        {
            system.DeadLetters.Tell(new SentWhileStopping());
            await Eventually.UntilAsync(() => lines.Any(line => line.Text.Contains(nameof(SentWhileStopping))), Patience);
            return Done.Instance;
        });
        await shutdown.Run(CoordinatedShutdown.ClrExitReason.Instance);

        Assert.Equal(MsLogLevel.Information, lines.Single(line => line.Text.Contains(nameof(SentWhileRunning))).Level);
        Assert.Equal(MsLogLevel.Debug, lines.Single(line => line.Text.Contains(nameof(SentWhileStopping))).Level);
    }

    private sealed record SentWhileRunning;

    private sealed record SentWhileStopping;

    private sealed class CapturingProvider(ConcurrentQueue<(MsLogLevel, string)> lines) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new Capturing(lines);

        public void Dispose()
        {
        }

        private sealed class Capturing(ConcurrentQueue<(MsLogLevel, string)> lines) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(MsLogLevel logLevel) => true;

            public void Log<TState>(MsLogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                lines.Enqueue((logLevel, formatter(state, exception)));
        }
    }
}
