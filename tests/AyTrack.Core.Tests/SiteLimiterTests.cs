using AyTrack.Core.Bounces;
using AyTrack.Core.Delivery;
using AyTrack.Core.Addresses;
using AyTrack.Core.Shaping;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace AyTrack.Core.Tests;

/// <summary>The per-site slots, idle sessions, waiting domains, rates, suspensions and reductions, under a fake clock.</summary>
public sealed class SiteLimiterTests
{
    private const string Site = "alt1.aspmx.l.google.com,aspmx.l.google.com";
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 12, 1, 9, 0, 0, TimeSpan.Zero));

    private static SiteShaping Shaping(string site = Site, TimeSpan? idle = null, int perConnection = 50, IReadOnlyList<AutomationRule>? automation = null) =>
        new(site, 2, perConnection, null, idle ?? TimeSpan.FromSeconds(30), false, null, automation ?? [], ["test"]);

    private sealed class FakeSession(string key) : IPooledSession
    {
        public string Key { get; } = key;

        public int Delivered { get; set; }

        public bool Closed { get; private set; }

        public ValueTask DisposeAsync()
        {
            Closed = true;
            return ValueTask.CompletedTask;
        }
    }

    [Fact]
    public void No_more_sessions_than_the_limit_and_a_released_slot_wakes_the_first_waiting_domain()
    {
        var limiter = new SiteLimiter(_clock);
        var a = limiter.Acquire(Shaping(), 2, "a.test", null);
        var b = limiter.Acquire(Shaping(), 2, "b.test", null);
        var woken = new List<string>();
        var c = limiter.Acquire(Shaping(), 2, "c.test", () => woken.Add("c.test"));
        var d = limiter.Acquire(Shaping(), 2, "d.test", () => woken.Add("d.test"));
        Assert.Equal(SiteVerdict.Granted, a.Verdict);
        Assert.Equal(SiteVerdict.Granted, b.Verdict);
        Assert.Equal(SiteVerdict.Full, c.Verdict);
        Assert.Equal(SiteVerdict.Full, d.Verdict);
        Assert.Equal(SiteVerdict.Granted, limiter.Acquire(Shaping("other.site"), 2, "e.test", null).Verdict);

        a.Lease!.Release();
        a.Lease.Release();
        Assert.Equal(["c.test"], woken);
        Assert.Equal(1, limiter.Status(Site)!.Open);
        Assert.Equal(1, limiter.Status(Site)!.Waiting);
        Assert.Equal(SiteVerdict.Granted, limiter.Acquire(Shaping(), 2, "c.test", null).Verdict);
        Assert.Equal(["a.test", "b.test", "c.test", "d.test"], limiter.Status(Site)!.Domains.Order());
    }

    [Fact]
    public void A_parked_session_is_handed_to_the_next_batch_of_the_site_and_still_counts_toward_the_limit()
    {
        var limiter = new SiteLimiter(_clock);
        var first = limiter.Acquire(Shaping(), 1, "a.test", null).Lease!;
        var session = new FakeSession("direct|mx");
        Assert.True(first.Park(session));
        first.Release();
        Assert.Equal(1, limiter.Status(Site)!.Open);
        Assert.Equal(1, limiter.Status(Site)!.Idle);

        // Another domain of the same site takes the idle session, though the limit of 1 is reached.
        var second = limiter.Acquire(Shaping(), 1, "b.test", null).Lease!;
        Assert.Same(session, second.TakeIdle());
        Assert.Null(second.TakeIdle());
        Assert.Equal(0, limiter.Status(Site)!.Idle);
        Assert.Equal(SiteVerdict.Full, limiter.Acquire(Shaping(), 1, "c.test", null).Verdict);
        second.Release();
        Assert.Equal(0, limiter.Status(Site)!.Open);
    }

    [Fact]
    public void An_idle_session_is_closed_by_the_sweep_after_its_idle_timeout()
    {
        var limiter = new SiteLimiter(_clock);
        var lease = limiter.Acquire(Shaping(idle: TimeSpan.FromSeconds(30)), 1, "a.test", null).Lease!;
        var session = new FakeSession("k");
        Assert.True(lease.Park(session));
        _clock.Advance(TimeSpan.FromSeconds(29));
        Assert.Empty(limiter.Sweep().ToClose);
        _clock.Advance(TimeSpan.FromSeconds(2));
        var sweep = limiter.Sweep();
        Assert.Same(session, Assert.Single(sweep.ToClose));
        Assert.Equal(0, limiter.Status(Site)!.Open);
    }

    [Fact]
    public void An_unused_idle_session_goes_back_to_the_pool_when_its_lease_is_released()
    {
        var limiter = new SiteLimiter(_clock);
        var lease = limiter.Acquire(Shaping(), 1, "a.test", null).Lease!;
        var session = new FakeSession("k");
        lease.Park(session);
        var taker = limiter.Acquire(Shaping(), 1, "b.test", null).Lease!;
        taker.Release();
        Assert.Equal(1, limiter.Status(Site)!.Idle);
        Assert.Equal(1, limiter.Status(Site)!.Open);
        Assert.False(session.Closed);
    }

    [Fact]
    public void Reuse_is_off_with_an_idle_timeout_of_zero()
    {
        var limiter = new SiteLimiter(_clock);
        var lease = limiter.Acquire(Shaping(idle: TimeSpan.Zero), 1, "a.test", null).Lease!;
        Assert.False(lease.Park(new FakeSession("k")));
        Assert.Equal(0, limiter.Status(Site)!.Open);
    }

    [Fact]
    public void A_suspension_holds_until_its_time_and_a_shorter_one_does_not_shorten_it()
    {
        var limiter = new SiteLimiter(_clock);
        var woken = 0;
        var change = limiter.Suspend(Site, TimeSpan.FromMinutes(15), "421 4.7.28 unusual rate");
        Assert.Equal("suspended", change.What);
        var grant = limiter.Acquire(Shaping(), 5, "a.test", () => woken++);
        Assert.Equal(SiteVerdict.Suspended, grant.Verdict);
        Assert.Equal(_clock.GetUtcNow().AddMinutes(15), grant.RetryAt);
        limiter.Suspend(Site, TimeSpan.FromMinutes(1), "a shorter one");
        Assert.Equal(_clock.GetUtcNow().AddMinutes(15), limiter.Status(Site)!.SuspendedUntil);

        _clock.Advance(TimeSpan.FromMinutes(15));
        var sweep = limiter.Sweep();
        Assert.Equal("resumed", Assert.Single(sweep.Changes).What);
        Assert.Single(sweep.ToWake).Invoke();
        Assert.Equal(1, woken);
        Assert.Equal(SiteVerdict.Granted, limiter.Acquire(Shaping(), 5, "a.test", null).Verdict);
        Assert.Empty(limiter.Sweep().Changes);
    }

    [Fact]
    public void A_suspension_closes_the_sites_idle_sessions_and_refuses_to_park_more()
    {
        var limiter = new SiteLimiter(_clock);
        var first = limiter.Acquire(Shaping(), 2, "a.test", null).Lease!;
        var second = limiter.Acquire(Shaping(), 2, "a.test", null).Lease!;
        var idle = new FakeSession("k");
        first.Park(idle);
        limiter.Suspend(Site, TimeSpan.FromMinutes(5), "operator");
        Assert.False(second.Park(new FakeSession("k2")));
        Assert.Same(idle, Assert.Single(limiter.Sweep().ToClose));
        Assert.Equal(0, limiter.Status(Site)!.Open);
    }

    [Fact]
    public void An_operator_resume_ends_a_suspension_and_wakes_the_waiting_domains()
    {
        var limiter = new SiteLimiter(_clock);
        limiter.Suspend(Site, TimeSpan.FromHours(1), "operator");
        var woken = 0;
        limiter.Acquire(Shaping(), 1, "a.test", () => woken++);
        var resumed = limiter.Resume(Site, "operator");
        Assert.NotNull(resumed);
        SiteLimiter.Wake(resumed.Value.Wake);
        Assert.Equal(1, woken);
        Assert.Equal(SiteVerdict.Granted, limiter.Acquire(Shaping(), 1, "a.test", null).Verdict);
        Assert.Null(limiter.Resume(Site, "again"));
    }

    [Fact]
    public void The_lowest_of_overlapping_reductions_holds_and_the_limit_is_restored_when_they_end()
    {
        var limiter = new SiteLimiter(_clock);
        limiter.Reduce(Site, 3, null, TimeSpan.FromMinutes(10), "RateLimited");
        limiter.Reduce(Site, 1, null, TimeSpan.FromMinutes(5), "RateLimited again");
        Assert.Equal(SiteVerdict.Granted, limiter.Acquire(Shaping(), 20, "a.test", null).Verdict);
        Assert.Equal(1, limiter.Status(Site)!.Limit);
        Assert.Equal(SiteVerdict.Full, limiter.Acquire(Shaping(), 20, "a.test", null).Verdict);

        _clock.Advance(TimeSpan.FromMinutes(10));
        Assert.Equal("restored", Assert.Single(limiter.Sweep().Changes).What);
        Assert.Equal(20, limiter.Status(Site)!.Limit);
        Assert.Equal(SiteVerdict.Granted, limiter.Acquire(Shaping(), 20, "a.test", null).Verdict);
    }

    [Fact]
    public void The_message_rate_gives_a_minutes_worth_then_one_at_a_time()
    {
        var limiter = new SiteLimiter(_clock);
        var rate = new MessageRate(60, TimeSpan.FromHours(1));
        // 60/h: one a minute; the bucket holds one minute's worth (at least one message).
        Assert.Equal(1, limiter.TakeMessages(Site, rate, 10).Granted);
        var (granted, until) = limiter.TakeMessages(Site, rate, 10);
        Assert.Equal(0, granted);
        Assert.Equal(TimeSpan.FromMinutes(1), until);
        _clock.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(1, limiter.TakeMessages(Site, rate, 10).Granted);
        Assert.Equal(10, limiter.TakeMessages("unlimited.site", null, 10).Granted);
    }

    [Fact]
    public void A_reduced_rate_holds_while_the_reduction_lasts()
    {
        var limiter = new SiteLimiter(_clock);
        limiter.Reduce(Site, null, new MessageRate(1, TimeSpan.FromMinutes(1)), TimeSpan.FromMinutes(10), "RateLimited");
        Assert.Equal(1, limiter.TakeMessages(Site, null, 50).Granted);
        Assert.Equal(0, limiter.TakeMessages(Site, null, 50).Granted);
        Assert.Equal("1/m", limiter.Status(Site)!.Rate?.ToString());
    }

    [Fact]
    public void Suspensions_and_reductions_survive_a_restart_through_their_record()
    {
        var limiter = new SiteLimiter(_clock);
        limiter.Suspend(Site, TimeSpan.FromHours(1), "421 4.7.0");
        limiter.Reduce("other.site", 2, null, TimeSpan.FromMinutes(30), "RateLimited");
        var before = limiter.Version;
        var record = limiter.Restrictions();
        Assert.Equal(2, record.Count);
        Assert.True(before > 0);

        var restarted = new SiteLimiter(_clock);
        _clock.Advance(TimeSpan.FromMinutes(40));
        restarted.Restore(record);
        Assert.Equal(SiteVerdict.Suspended, restarted.Acquire(Shaping(), 5, "a.test", null).Verdict);
        // The reduction ended while the node was down: it is not restored.
        Assert.Equal(SiteVerdict.Granted, restarted.Acquire(Shaping("other.site"), 10, "b.test", null).Verdict);
        Assert.Equal(10, restarted.Status("other.site")!.Limit);
    }

    [Fact]
    public void Automation_suspends_reduces_or_bounces_by_category_once_per_session()
    {
        var limiter = new SiteLimiter(_clock);
        var suspend = new AutomationRule("slow-down", [BounceCategory.RateLimited], null, AutomationAction.Suspend, TimeSpan.FromMinutes(15), null, null, 1);
        var bounce = new AutomationRule("no-such-user", [BounceCategory.InvalidRecipient], null, AutomationAction.Bounce, TimeSpan.Zero, null, null, 2);
        var shaping = Shaping(automation: [suspend, bounce]);
        var throttled = new SmtpReply(421, "4.7.0", "Try again later");
        var unknown = new SmtpReply(450, "4.1.1", "No such user (yet)");
        var attempts = new List<MessageAttempt>
        {
            new(new QueueId("q1"), [new RecipientAttempt("a@x.test", RecipientOutcome.Deferred, throttled),
                new RecipientAttempt("b@x.test", RecipientOutcome.Deferred, unknown)], "mx", "127.0.0.1"),
            new(new QueueId("q2"), [new RecipientAttempt("c@x.test", RecipientOutcome.Deferred, throttled),
                new RecipientAttempt("d@x.test", RecipientOutcome.Delivered, new SmtpReply(250, "2.0.0", "ok"))], "mx", "127.0.0.1"),
        };

        var (results, changes) = SiteAutomation.Apply(limiter, shaping, attempts,
            reply => reply.Enhanced == "4.1.1" ? BounceCategory.InvalidRecipient : reply.Code == 421 ? BounceCategory.RateLimited : BounceCategory.Other);

        var change = Assert.Single(changes);
        Assert.Equal("suspended", change.What);
        Assert.Contains("slow-down", change.Reason);
        Assert.Equal(_clock.GetUtcNow().AddMinutes(15), change.Until);
        Assert.Equal(RecipientOutcome.Failed, results[0].Results[1].Outcome);
        Assert.Equal(RecipientOutcome.Deferred, results[0].Results[0].Outcome);
        Assert.Same(attempts[1], results[1]);
        Assert.Equal(SiteVerdict.Suspended, limiter.Acquire(shaping, 5, "x.test", null).Verdict);
    }
}

/// <summary>Egress pools: the source a session takes.</summary>
public sealed class EgressSourcesTests
{
    [Fact]
    public void A_pool_spreads_sessions_by_weight_and_no_pool_binds_nothing()
    {
        var options = new AyTrack.Core.Configuration.EgressOptions
        {
            Sources =
            [
                new() { Name = "a", BindAddress = "192.0.2.10", EhloName = "out1.example.com" },
                new() { Name = "b", BindAddress = "192.0.2.11" },
            ],
            Pools =
            [
                new() { Name = "default", Sources = [new() { Name = "a" }, new() { Name = "b", Weight = 3 }] },
                new() { Name = "only-a", Sources = [new() { Name = "a" }] },
                new() { Name = "only-b", Sources = [new() { Name = "b" }] },
            ],
        };
        var egress = new AyTrack.Smtp.Delivery.EgressSources(options, "node.example.com");

        var picks = Enumerable.Range(0, 10_000).Select(_ => egress.Choose(null).Name).ToList();
        // Weights 1:3: a quarter from a. 10,000 draws put that within a few tenths of a percent; 20-30 % cannot miss.
        Assert.InRange(picks.Count(p => p == "a"), 2_000, 3_000);
        Assert.All(Enumerable.Range(0, 100), _ => Assert.Equal("a", egress.Choose("only-a").Name));
        var a = egress.Choose("only-a");
        Assert.Equal("out1.example.com", a.EhloName);
        Assert.Equal(System.Net.IPAddress.Parse("192.0.2.10"), a.BindAddress);
        // A source without its own EHLO name greets with the node's.
        Assert.Equal("node.example.com", egress.Choose("only-b").EhloName);

        var none = AyTrack.Smtp.Delivery.EgressSources.None("node.example.com").Choose("anything");
        Assert.Null(none.BindAddress);
        Assert.Equal("node.example.com", none.EhloName);
    }

    [Fact]
    public void Sources_and_pools_are_checked_by_key()
    {
        var options = new AyTrack.Core.Configuration.EgressOptions
        {
            Sources = [new() { Name = "a", BindAddress = "not-an-address" }, new() { Name = "a", EhloName = "bad host name!" }],
            Pools = [new() { Name = "p", Sources = [new() { Name = "zzz" }, new() { Name = "a", Weight = 0 }] }, new() { Name = "empty" }],
        };

        var problems = options.Validate().ToDictionary(p => p.Key, p => p.Value);
        Assert.Contains("not an IP address", problems["AyTrack:Egress:Sources:0:BindAddress"]);
        Assert.Contains("used by another source", problems["AyTrack:Egress:Sources:1:Name"]);
        Assert.Contains("not a host name", problems["AyTrack:Egress:Sources:1:EhloName"]);
        Assert.Contains("'zzz' is not a source", problems["AyTrack:Egress:Pools:0:Sources:0"]);
        Assert.Contains("between 1 and 1000", problems["AyTrack:Egress:Pools:0:Sources:1:Weight"]);
        Assert.Contains("at least one source", problems["AyTrack:Egress:Pools:1:Sources"]);
    }
}
