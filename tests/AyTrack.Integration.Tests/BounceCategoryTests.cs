using System.Net.Http.Json;
using AyTrack.Cli;
using AyTrack.Contracts;
using AyTrack.Core.Bounces;
using AyTrack.Integration.Tests.Support;
using AyTrack.Loopback;
using AyTrack.Node;
using Microsoft.Extensions.Logging;
using SmtpServer.Protocol;
using Xunit;

namespace AyTrack.Integration.Tests;

/// <summary>
/// Every failure gets a category from the bounce rules: in the delivery log, in the DSN the sender reads, and in
/// `aytrack queue show`; an operator's rules file is tried first and reloaded when it changes.
/// </summary>
public sealed class BounceCategoryTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Each_failure_is_categorised_in_the_delivery_log_the_dsn_and_queue_show()
    {
        await using var world = LoopbackWorld.Create();
        var senders = world.AddDomain("sender.test");
        var cats = world.AddDomain("cats.test");
        var replies = new Dictionary<string, SmtpResponse>
        {
            ["nouser@cats.test"] = new((SmtpReplyCode)550, "5.1.1 The email account that you tried to reach does not exist"),
            ["huge@cats.test"] = new((SmtpReplyCode)552, "5.2.3 Your message exceeded Google's message size limits"),
            ["spam@cats.test"] = new((SmtpReplyCode)550, "5.7.1 Our system has detected that this message is likely unsolicited mail"),
            ["auth@cats.test"] = new((SmtpReplyCode)550, "5.7.26 This mail is unauthenticated"),
            ["full@cats.test"] = new((SmtpReplyCode)452, "4.2.2 The email account that you tried to reach is over quota"),
            ["policy@more.test"] = new((SmtpReplyCode)554, "5.7.9 Message not accepted for policy reasons"),
            ["content@more.test"] = new((SmtpReplyCode)554, "5.6.0 Message content rejected"),
            ["tls@more.test"] = new((SmtpReplyCode)530, "5.7.10 Must issue a STARTTLS command first"),
            ["route@other.test"] = new((SmtpReplyCode)550, "5.4.4 Unable to route to the recipient's domain"),
            ["odd@other.test"] = new((SmtpReplyCode)550, "5.3.2 System not accepting network messages"),
        };
        // Spread over three sinks: the sink library quits a session after five refused commands (SmtpServer's MaxRetryCount).
        foreach (var domain in new[] { cats, world.AddDomain("more.test"), world.AddDomain("other.test") })
        {
            domain.RecipientReply = r => replies.GetValueOrDefault(r);
        }

        // A domain whose MX refuses connections: the failure is AyTrack's own (4.4.1), categorised like a reply.
        world.Dns.AddMx("down.test", 10, "mx.down.test");
        world.AddDownHost("mx.down.test");
        var slow = world.AddDomain("slow.test");
        slow.RecipientReply = _ => new SmtpResponse((SmtpReplyCode)421, "4.7.28 unusual rate of unsolicited mail from your IP");
        await using var node = await TestNode.StartAsync(world);

        await node.SendAsync(TestNode.NewMessage("app@sender.test", replies.Keys, "categories"));
        await node.SendAsync(TestNode.NewMessage("app@sender.test", ["x@slow.test"], "rate limited"));
        await node.SendAsync(TestNode.NewMessage("app@sender.test", ["x@down.test"], "refused"));

        var expected = new Dictionary<string, (string Outcome, string Category)>
        {
            ["nouser@cats.test"] = ("failed", "InvalidRecipient"),
            ["huge@cats.test"] = ("failed", "MessageTooLarge"),
            ["spam@cats.test"] = ("failed", "SpamBlock"),
            ["auth@cats.test"] = ("failed", "AuthenticationFailure"),
            ["full@cats.test"] = ("deferred", "MailboxFull"),
            ["policy@more.test"] = ("failed", "PolicyBlock"),
            ["content@more.test"] = ("failed", "ContentRejected"),
            ["tls@more.test"] = ("failed", "TlsFailure"),
            ["route@other.test"] = ("failed", "DnsFailure"),
            ["odd@other.test"] = ("failed", "Other"),
            ["x@slow.test"] = ("deferred", "RateLimited"),
            ["x@down.test"] = ("deferred", "ConnectionFailure"),
        };
        foreach (var (recipient, (outcome, category)) in expected)
        {
            var entry = await DeliveryLogReader.WaitForAsync(node.DataDir, recipient, Patience, outcome: outcome);
            Assert.Equal(category, entry.GetProperty("category").GetString());
        }

        // The DSNs tell the sender in words and by name why each address failed. Each domain reports its failures when
        // its session ends, so the three domains' failures come in one report or several.
        static string Explanation(ReceivedMessage report) => report.Parse().BodyParts.OfType<MimeKit.TextPart>().First(p => p.IsPlain).Text;
        var failed = expected.Where(e => e.Value.Outcome == "failed").ToList();
        await Eventually.UntilAsync(() => failed.All(f => senders.Received.Any(r => Explanation(r).Contains($"<{f.Key}>:"))), Patience);
        foreach (var (recipient, (_, category)) in failed)
        {
            var explanation = Explanation(senders.Received.Single(r => Explanation(r).Contains($"<{recipient}>:")));
            Assert.Matches($@"<{System.Text.RegularExpressions.Regex.Escape(recipient)}>: [^\n]* \({category}\)", explanation);
        }

        var catsReport = Explanation(senders.Received.Single(r => Explanation(r).Contains("<nouser@cats.test>:")));
        Assert.Contains($"<nouser@cats.test>: {DsnBuilder.Describe(BounceCategory.InvalidRecipient)} (InvalidRecipient)", catsReport);
        Assert.Contains("<huge@cats.test>: the message is larger than the receiver accepts (MessageTooLarge)", catsReport);
        var bounced = await DeliveryLogReader.WaitForAsync(node.DataDir, "nouser@cats.test", Patience, outcome: "bounced");
        Assert.Equal("InvalidRecipient", bounced.GetProperty("category").GetString());

        var queue = await node.WaitForSettledQueueAsync("slow.test", q => q.Deferred == 1, Patience);
        Assert.Equal("RateLimited", queue.LastCategory);
        var output = new StringWriter();
        Assert.Equal(0, await AyTrackCli.RunAsync(["queue", "show", "slow.test", "--url", node.AdminUrl.ToString(), "--token", node.Token], output, new StringWriter()));
        Assert.Matches(@"CATEGORY[\s\S]*slow\.test.*RateLimited", output.ToString());
    }

    [Fact]
    public async Task An_operators_rules_file_is_tried_first_reloaded_on_change_and_a_bad_edit_keeps_the_rules_in_force()
    {
        var dir = Directory.CreateTempSubdirectory("aytrack-bounce-rules").FullName;
        try
        {
            var path = Path.Combine(dir, "rules.yaml");
            await File.WriteAllTextAsync(path, "rules:\n  - {name: ours, category: PolicyBlock, text: \"daily quota\"}\n");
            var classifier = new BounceClassifier(BounceRulesFile.Load(path));
            var reply = AyTrack.Core.Delivery.SmtpReply.From(550, "5.1.1 daily quota of this mailbox used up");
            Assert.Equal(BounceCategory.PolicyBlock, classifier.Classify(reply));

            var log = new RecordingLogger();
            using var watcher = new BounceRulesWatcher(path, classifier, log);
            await watcher.StartAsync(CancellationToken.None);

            await File.WriteAllTextAsync(path, "rules:\n  - {name: ours, category: Spam, text: \"daily quota\"}\n");
            await Eventually.UntilAsync(() => log.Lines.Any(l => l.Contains("not reloaded")), Patience);
            Assert.Contains(log.Lines, l => l.Contains("line 2") && l.Contains("category 'Spam'"));
            Assert.Equal(BounceCategory.PolicyBlock, classifier.Classify(reply));

            await File.WriteAllTextAsync(path, "rules:\n  - {name: ours, category: MailboxFull, text: \"daily quota\"}\n");
            await Eventually.UntilAsync(() => classifier.Classify(reply) == BounceCategory.MailboxFull, Patience);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void A_node_with_a_bad_rules_file_does_not_start_and_names_the_key_and_line()
    {
        var dir = Directory.CreateTempSubdirectory("aytrack-bounce-rules").FullName;
        try
        {
            var path = Path.Combine(dir, "rules.yaml");
            File.WriteAllText(path, "rules:\n  - category: SpamBlock\n    status: 5.7\n");
            var error = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() =>
                NodeHost.Build([$"--AyTrack:DataDir={Path.Combine(dir, "data")}", $"--AyTrack:Delivery:BounceRulesPath={path}"]));
            Assert.Contains($"AyTrack:Delivery:BounceRulesPath {path} line 3: status '5.7'", error.Message);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    private sealed class RecordingLogger : ILogger<BounceRulesWatcher>
    {
        public System.Collections.Concurrent.ConcurrentQueue<string> Lines { get; } = new();

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Lines.Enqueue(formatter(state, exception));
    }
}
