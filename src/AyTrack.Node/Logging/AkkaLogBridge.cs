using Akka.Actor;
using Akka.Actor.Setup;
using Akka.Dispatch;
using Akka.Event;
using MsLogLevel = Microsoft.Extensions.Logging.LogLevel;

namespace AyTrack.Node.Logging;

/// <summary>The node's logger factory, handed to the Akka.NET logger actor through the actor system's setup.</summary>
public sealed class AkkaLogBridgeSetup(ILoggerFactory loggerFactory) : Setup
{
    public ILoggerFactory LoggerFactory { get; } = loggerFactory;
}

/// <summary>
/// Akka.NET's log events written as the node's own lines: category = the class that logged, the message as written,
/// prefixed with the actor or component it came from. (Akka.Hosting's logger nests Akka's own formatted line — level,
/// date, thread, source — inside the Microsoft logger's line, and reports Akka errors as warnings.)
/// </summary>
public sealed class AkkaLogBridge : ActorBase, IRequiresMessageQueue<ILoggerMessageQueueSemantics>
{
    private readonly ILoggerFactory _loggerFactory;
    private readonly Dictionary<string, ILogger> _loggers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DateTime> _singletonWarnings = new(StringComparer.Ordinal);
    private readonly TimeSpan _singletonFailurePeriod;
    private CoordinatedShutdown? _shutdown;
    private readonly bool _deadLettersDuringShutdown;

    public AkkaLogBridge()
    {
        _loggerFactory = Context.System.Settings.Setup.Get<AkkaLogBridgeSetup>().Value?.LoggerFactory
                         ?? throw new InvalidOperationException($"{nameof(AkkaLogBridgeSetup)} is missing from the actor system's setup");
        _singletonFailurePeriod = Context.System.Settings.Config.GetTimeSpan(
            "akka.cluster.singleton-proxy.singleton-identification-failure-period", TimeSpan.FromSeconds(30), allowInfinite: false);
        _deadLettersDuringShutdown = Context.System.Settings.LogDeadLettersDuringShutdown;
    }

    protected override bool Receive(object message)
    {
        switch (message)
        {
            case InitializeLogger:
                Sender.Tell(new LoggerInitialized());
                return true;
            case LogEvent log:
                Write(log);
                return true;
            default:
                return false;
        }
    }

    private void Write(LogEvent log)
    {
        // Events logged with a string source (remoting, the cluster) carry a placeholder class: call them Akka.
        var category = log.LogClass == typeof(DummyClassForStringSources) ? "Akka" : log.LogClass.FullName ?? log.LogClass.Name;
        if (!_loggers.TryGetValue(category, out var logger))
        {
            _loggers[category] = logger = _loggerFactory.CreateLogger(category);
        }

        var level = log.LogLevel() switch
        {
            Akka.Event.LogLevel.DebugLevel => MsLogLevel.Debug,
            Akka.Event.LogLevel.InfoLevel => MsLogLevel.Information,
            Akka.Event.LogLevel.WarningLevel => MsLogLevel.Warning,
            _ => MsLogLevel.Error,
        };
        if (!logger.IsEnabled(level))
        {
            return;
        }

        string text;
        try
        {
            text = (log.Message is LogMessage formatted ? formatted.ToString() : log.Message?.ToString()) ?? string.Empty;
        }
        catch (FormatException e)
        {
            text = $"(unformattable log message: {e.Message}) {log.Message}";
        }

        if (level == MsLogLevel.Warning && IsImmediateSingletonWarning(log, text))
        {
            level = MsLogLevel.Debug;
        }
        else if (level == MsLogLevel.Information && !_deadLettersDuringShutdown && IsDeadLetterReport(text) && IsShuttingDown())
        {
            level = MsLogLevel.Debug;
        }

        logger.Log(level, log.Cause, "[{Source}] {Message}", log.LogSource, text);
    }

    /// <summary>
    /// Akka.NET 1.5's ClusterSingletonProxy starts its identification-failure timer with no initial delay, so every
    /// time it starts looking for the singleton (at each start, and when the oldest node changes) it warns "failed to
    /// find … after 30 seconds" at once. That first tick is not a failure and is logged at Debug; the ticks that follow
    /// it a failure period later, when the singleton is really missing, stay warnings.
    /// </summary>
    private bool IsImmediateSingletonWarning(LogEvent log, string text)
    {
        if (!text.StartsWith("ClusterSingletonProxy failed to find", StringComparison.Ordinal))
        {
            return false;
        }

        var now = DateTime.UtcNow;
        var periodic = IsPeriodicRepeat(_singletonWarnings.TryGetValue(log.LogSource, out var previous) ? previous : null, now, _singletonFailurePeriod);
        _singletonWarnings[log.LogSource] = now;
        return !periodic;
    }

    /// <summary>
    /// Akka.NET's dead-letter listener reports each undelivered message as a plain Info line. With
    /// <c>akka.log-dead-letters-during-shutdown = off</c> it stops only when the actor system is finally terminated,
    /// at the very end of coordinated shutdown; the phases before that (leaving the cluster, stopping shards and the
    /// replicator) leave timer ticks for actors that are already gone, which it still reports. Once a coordinated
    /// shutdown has begun, such a report is expected and logged at Debug: the rule Akka.NET means to apply, from the
    /// moment the node starts stopping (Apache Pekko changed its listener the same way).
    /// </summary>
    public static bool IsDeadLetterReport(string text) =>
        text.Contains(" dead letters encountered", StringComparison.Ordinal);

    /// <summary>
    /// Looked up at the first dead-letter report rather than in the constructor: the logger starts before the actor
    /// system's extensions, and must not be the one to start coordinated shutdown's.
    /// </summary>
    private bool IsShuttingDown() => (_shutdown ??= CoordinatedShutdown.Get(Context.System)).ShutdownReason is not null;

    /// <summary>
    /// A real identification failure repeats once a failure period; a warning without one a period before it (the
    /// proxy restarts its timer twice at start) is a first tick.
    /// </summary>
    public static bool IsPeriodicRepeat(DateTime? previous, DateTime now, TimeSpan period) =>
        previous is { } last && now - last >= period / 2 && now - last <= period * 1.5;
}
