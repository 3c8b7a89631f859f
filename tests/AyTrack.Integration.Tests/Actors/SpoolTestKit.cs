using Akka.TestKit.Xunit2;
using AyTrack.Actors.Workers;
using AyTrack.Core.Addresses;
using AyTrack.Core.Delivery;
using AyTrack.Core.Spool;
using AyTrack.Spool;
using Xunit;

namespace AyTrack.Integration.Tests.Actors;

/// <summary>A TestKit for a domain actor's tests: a real SQLite spool in a directory of its own, removed afterwards.</summary>
public abstract class SpoolTestKit(string config) : TestKit(config), IAsyncLifetime
{
    protected static readonly RecipientDomain Domain = new("alpha.test");

    private readonly string _dir = Directory.CreateTempSubdirectory("aytrack-actors").FullName;

    protected SqliteSpool Spool { get; private set; } = null!;

    /// <summary>A small message from app@sender.test to these recipients, in the spool as the listener would leave it.</summary>
    protected Task AcceptAsync(QueueId id, params string[] recipients) =>
        Spool.AcceptAsync(new SpoolEnvelope(id, "app@sender.test", recipients.Select(EmailAddress.Parse).ToList(), DateTimeOffset.UtcNow, false, null),
            MessageContent.FromMemory("Subject: x\r\n\r\nx\r\n"u8.ToArray()), CancellationToken.None);

    /// <summary>A worker's answer: the recipient of this message was delivered.</summary>
    protected static WorkerCommands.BatchDelivered Delivered(Guid batchId, QueueId id, string recipient) =>
        new(batchId, [new MessageAttempt(id, [new RecipientAttempt(recipient, RecipientOutcome.Delivered, SmtpReply.From(250, "2.0.0 ok"))],
            "mx.alpha.test", "127.0.0.1")]);

    public async Task InitializeAsync() => Spool = await SqliteSpool.OpenAsync(Path.Combine(_dir, "spool.db"));

    public async Task DisposeAsync()
    {
        await Spool.DisposeAsync();
        Directory.Delete(_dir, true);
    }
}
