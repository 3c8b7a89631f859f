using Akka.Actor;
using Akka.Event;
using AyTrack.Core.Addresses;
using AyTrack.Core.Domains;
using AyTrack.Core.Bounces;
using AyTrack.Core.Delivery;
using AyTrack.Core.Spool;

namespace AyTrack.Actors.Bounces;

public static class BounceCommands
{
    /// <summary>Queue a delivery status notification for these recipients of a message. Replied to with <see cref="BounceQueued"/>.</summary>
    public sealed record Bounce(QueueId Id, IReadOnlyList<BounceRecipient> Recipients);

    /// <summary>The notification is durable in the spool, or was not due (null sender, message gone).</summary>
    public sealed record BounceQueued(QueueId Id, IReadOnlyList<string> Recipients);

    /// <summary>Warn the sender that these recipients are still deferred. Replied to with <see cref="DelayWarningQueued"/>.</summary>
    public sealed record WarnDelay(QueueId Id, IReadOnlyList<BounceRecipient> Recipients);

    /// <summary>The warning is durable in the spool, or was not due (null sender, NOTIFY without DELAY, message gone).</summary>
    public sealed record DelayWarningQueued(QueueId Id, IReadOnlyList<string> Recipients);
}

/// <summary>
/// Turns permanent failures into a DSN (RFC 3464) sent with MAIL FROM:&lt;&gt; to the envelope sender (RFC 5321 §4.5.5),
/// through the same spool and pipeline as any other mail. A message whose sender is null is never bounced: that
/// is how bounce loops are avoided; the delivery log records it instead.
/// </summary>
public sealed class BounceActor : ReceiveActor
{
    public BounceActor(ISpool spool, IDeliveryLog deliveryLog, string reportingMta, TimeProvider clock, BounceClassifier? classifier = null)
    {
        var log = Context.GetLogger();
        ReceiveAsync<BounceCommands.Bounce>(async bounce =>
        {
            var replyTo = Sender;
            var names = bounce.Recipients.Select(r => r.Recipient).ToList();
            try
            {
                var original = await spool.LoadAsync(bounce.Id, CancellationToken.None);
                string outcome;
                // RFC 3461 §4.1: a recipient whose NOTIFY leaves out FAILURE (NEVER, or SUCCESS/DELAY only) gets no DSN.
                var wanted = original?.Envelope.Dsn is { } request
                    ? bounce.Recipients.Where(r => request.Wants(r.Recipient, AyTrack.Core.Dsn.DsnNotify.Failure)).ToList()
                    : bounce.Recipients;
                if (original is null)
                {
                    log.Warning("Cannot bounce {0}: the message is no longer in the spool", bounce.Id);
                    outcome = "failed-not-bounced";
                }
                else if (original.Envelope.Sender.Length == 0)
                {
                    log.Info("Not bouncing {0}: its sender is null (a bounce is never bounced)", bounce.Id);
                    outcome = "failed-not-bounced";
                }
                else if (wanted.Count == 0)
                {
                    log.Info("Not bouncing {0}: the sender asked for no failure notice (NOTIFY)", bounce.Id);
                    outcome = "failed-not-bounced";
                }
                else
                {
                    var now = clock.GetUtcNow();
                    var dsn = DsnBuilder.Build(original.Envelope, original.Body, wanted, reportingMta, now,
                        classifier?.Rules);
                    var id = await DsnBuilder.QueueAsync(spool, original.Envelope, dsn, now);
                    log.Info("Bounced {0} recipient(s) of {1} to <{2}> as {3}", wanted.Count, bounce.Id, original.Envelope.Sender, id);
                    outcome = "bounced";
                }

                deliveryLog.Write(bounce.Recipients.Select(r => new DeliveryLogEntry(clock.GetUtcNow(), bounce.Id.Value,
                    original?.Envelope.MessageIdHeader, r.Recipient, outcome == "bounced" && !wanted.Contains(r) ? "failed-not-bounced" : outcome,
                    r.Diagnostic.Length > 0 ? r.Diagnostic : r.Status, r.RemoteMta, null, false, 0) { User = original?.Envelope.AuthenticatedUser }));
                replyTo.Tell(new BounceCommands.BounceQueued(bounce.Id, names));
            }
            catch (Exception error)
            {
                log.Error(error, "Could not queue the bounce for {0}; it will be tried again", bounce.Id);
                replyTo.Tell(new Status.Failure(error));
            }
        });
        ReceiveAsync<BounceCommands.WarnDelay>(async warn =>
        {
            var replyTo = Sender;
            var names = warn.Recipients.Select(r => r.Recipient).ToList();
            try
            {
                var original = await spool.LoadAsync(warn.Id, CancellationToken.None);
                // RFC 3461 §4.1: only recipients whose NOTIFY includes DELAY (as it does without NOTIFY); never to <>.
                var wanted = original is null || original.Envelope.Sender.Length == 0
                    ? []
                    : warn.Recipients.Where(r => original.Envelope.Dsn?.Wants(r.Recipient, AyTrack.Core.Dsn.DsnNotify.Delay) ?? true).ToList();
                if (wanted.Count > 0)
                {
                    var now = clock.GetUtcNow();
                    var dsn = DsnBuilder.BuildDelayed(original!.Envelope, original.Body, wanted, reportingMta, now, classifier?.Rules);
                    var id = await DsnBuilder.QueueAsync(spool, original.Envelope, dsn, now);
                    log.Info("Delay warning for {0} recipient(s) of {1} sent to <{2}> as {3}", wanted.Count, warn.Id, original.Envelope.Sender, id);
                    deliveryLog.Write(wanted.Select(r => new DeliveryLogEntry(now, warn.Id.Value, original.Envelope.MessageIdHeader, r.Recipient,
                        "delay-warned", r.Diagnostic.Length > 0 ? r.Diagnostic : r.Status, r.RemoteMta, null, false, 0)
                    {
                        User = original.Envelope.AuthenticatedUser,
                    }));
                }

                replyTo.Tell(new BounceCommands.DelayWarningQueued(warn.Id, names));
            }
            catch (Exception error)
            {
                log.Error(error, "Could not queue the delay warning for {0}; it will be tried again", warn.Id);
                replyTo.Tell(new Status.Failure(error));
            }
        });
    }

    public static Props Props(ISpool spool, IDeliveryLog deliveryLog, string reportingMta, TimeProvider clock, BounceClassifier? classifier = null) =>
        Akka.Actor.Props.Create(() => new BounceActor(spool, deliveryLog, reportingMta, clock, classifier));
}
