using System.Buffers;
using System.Text;
using Akka.Actor;
using Akka.Configuration;
using AyTrack.Actors.Serialization;
using AyTrack.Core.Addresses;
using AyTrack.Core.Delivery;
using AyTrack.Core.Domains;
using AyTrack.Core.Messages;
using AyTrack.Core.Spool;
using AyTrack.Spool;
using BenchmarkDotNet.Attributes;

namespace AyTrack.Microbench;

/// <summary>Every accepted message is journaled at least twice (enqueued, attempt completed): the serializer's cost per event.</summary>
[MemoryDiagnoser]
public class SerializationBenchmarks
{
    private ActorSystem _system = null!;
    private AyTrackSerializer _serializer = null!;
    private DomainEvents.MessageEnqueued _enqueued = null!;
    private DomainEvents.AttemptCompleted _attempt = null!;
    private byte[] _enqueuedBytes = [];
    private byte[] _attemptBytes = [];

    [GlobalSetup]
    public void Setup()
    {
        _system = ActorSystem.Create("bench", ConfigurationFactory.Empty);
        _serializer = new AyTrackSerializer((ExtendedActorSystem)_system);
        var id = QueueId.New();
        _enqueued = new DomainEvents.MessageEnqueued(id, new RecipientDomain("example.test"), ["someone@example.test"], DateTimeOffset.UtcNow);
        _attempt = new DomainEvents.AttemptCompleted(id,
            [new RecipientAttempt("someone@example.test", RecipientOutcome.Delivered, SmtpReply.From(250, "2.0.0 Ok: queued as 4Y4DHWGRXUU4"))],
            DateTimeOffset.UtcNow) { RemoteHost = "mx.example.test" };
        _enqueuedBytes = _serializer.ToBinary(_enqueued);
        _attemptBytes = _serializer.ToBinary(_attempt);
    }

    [GlobalCleanup]
    public void Cleanup() => _system.Terminate().Wait();

    [Benchmark]
    public byte[] SerializeEnqueued() => _serializer.ToBinary(_enqueued);

    [Benchmark]
    public object DeserializeEnqueued() => _serializer.FromBinary(_enqueuedBytes, "domain.enqueued.v1");

    [Benchmark]
    public byte[] SerializeAttempt() => _serializer.ToBinary(_attempt);

    [Benchmark]
    public object DeserializeAttempt() => _serializer.FromBinary(_attemptBytes, "domain.attempt.v1");
}

/// <summary>Per reply and per envelope: reply parsing and classification, domain normalisation, the data checks.</summary>
[MemoryDiagnoser]
public class ProtocolBenchmarks
{
    private readonly ReadOnlySequence<byte> _message = new(Encoding.ASCII.GetBytes(
        "Subject: hello\r\n\r\n" + string.Concat(Enumerable.Repeat(new string('x', 76) + "\r\n", 52))));

    [Benchmark]
    public RecipientOutcome ParseAndClassifyReply() => FailureClassification.Classify(SmtpReply.From(451, "4.7.1 Greylisted, please try again later"));

    [Benchmark]
    public bool NormalizeAsciiDomain() => DomainName.TryNormalize("Mail.Example.TEST", out _, out _);

    [Benchmark]
    public bool NormalizeInternationalDomain() => DomainName.TryNormalize("bücher.example.test", out _, out _);

    [Benchmark]
    public bool CheckFourKilobytesForBareLineEndings() => MessageData.HasBareLineEnding(_message);
}

/// <summary>A domain actor's look at a queue of 100,000 messages (all deferred, none due): what every wake costs.</summary>
[MemoryDiagnoser]
public class QueueStateBenchmarks
{
    private static readonly RecipientDomain Domain = new("down.example.test");
    private DomainQueueState _state = DomainQueueState.Empty;
    private DateTimeOffset _now;

    [Params(1_000, 100_000)]
    public int Messages { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _now = DateTimeOffset.UtcNow;
        var state = DomainQueueState.Empty;
        for (var i = 0; i < Messages; i++)
        {
            var id = QueueId.New();
            state = state.Apply(new DomainEvents.MessageEnqueued(id, Domain, [$"user{i}@down.example.test"], _now.AddMilliseconds(i)));
            state = state.Apply(new DomainEvents.AttemptCompleted(id,
                [new RecipientAttempt($"user{i}@down.example.test", RecipientOutcome.Deferred, SmtpReply.From(451, "4.4.1 Connection refused"))],
                _now) { RetryAt = _now.AddMinutes(5) });
        }

        _state = state;
    }

    [Benchmark]
    public int NextBatch() => _state.NextBatch(50, new HashSet<string>(), _now).Count;

    [Benchmark]
    public DateTimeOffset? NextWakeUp() => _state.NextWakeUp(5);

    [Benchmark]
    public int PendingBounces() => _state.PendingBounces().Count;

    [Benchmark]
    public int Expired() => _state.Expired(_now, 5, new HashSet<string>()).Count;

    [Benchmark]
    public DomainQueueState EnqueueOneMore() =>
        _state.Apply(new DomainEvents.MessageEnqueued(QueueId.New(), Domain, ["late@down.example.test"], _now.AddDays(1)));
}

/// <summary>The durable step of every acceptance: 4 KB messages into the SQLite spool with group commit (fsync on).</summary>
[MemoryDiagnoser]
public class SpoolBenchmarks
{
    private readonly byte[] _body = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat(new string('x', 76) + "\r\n", 52)));
    private string _dir = string.Empty;
    private SqliteSpool _spool = null!;

    [Params(1, 32)]
    public int Concurrent { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _dir = Directory.CreateTempSubdirectory("aytrack-microbench").FullName;
        _spool = SqliteSpool.OpenAsync(Path.Combine(_dir, "spool.db")).GetAwaiter().GetResult();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _spool.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>Time for <see cref="Concurrent"/> acceptances at once; divide by it for the cost of one.</summary>
    [Benchmark]
    public Task Accept() => Task.WhenAll(Enumerable.Range(0, Concurrent).Select(_ => _spool.AcceptAsync(
        new SpoolEnvelope(QueueId.New(), "app@sender.test", [EmailAddress.Parse("someone@example.test")], DateTimeOffset.UtcNow, false, null),
        MessageContent.FromMemory(_body), CancellationToken.None)));
}
