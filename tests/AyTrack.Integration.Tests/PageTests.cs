using System.Net.Http.Json;
using System.Text.Json;
using AyTrack.Contracts;
using AyTrack.Integration.Tests.Support;
using AyTrack.Loopback;
using Microsoft.Playwright;
using SmtpServer.Protocol;
using Xunit;

namespace AyTrack.Integration.Tests;

/// <summary>
/// One node, its mail-client settings for Suggest, and Debian's chromium driven by Playwright (its own browser
/// download is not available here), shared by the page tests; each test has a browser context of its own.
/// </summary>
public sealed class PageFixture : IAsyncLifetime
{
    public LoopbackWorld World { get; private set; } = null!;

    public TestNode Node { get; private set; } = null!;

    public IPlaywright Playwright { get; private set; } = null!;

    public IBrowser Browser { get; private set; } = null!;

    private string _home = null!;

    public async Task InitializeAsync()
    {
        World = LoopbackWorld.Create();
        World.AddDomain("alpha.test");
        var slow = World.AddDomain("slow.test");
        slow.RecipientReply = _ => new SmtpResponse((SmtpReplyCode)450, "4.2.1 mailbox busy, try later");
        _home = Directory.CreateTempSubdirectory("aytrack-page-home").FullName;
        Directory.CreateDirectory(Path.Combine(_home, ".thunderbird", "p1.default"));
        await File.WriteAllTextAsync(Path.Combine(_home, ".thunderbird", "profiles.ini"), "[Profile0]\nIsRelative=1\nPath=p1.default\n");
        await File.WriteAllTextAsync(Path.Combine(_home, ".thunderbird", "p1.default", "prefs.js"),
            "user_pref(\"mail.smtpserver.smtp1.hostname\", \"smtp.page.test\");\nuser_pref(\"mail.smtpserver.smtp1.port\", 587);\nuser_pref(\"mail.smtpserver.smtp1.try_ssl\", 2);\n");
        Node = await TestNode.StartAsync(World, $"--AyTrack:Suggest:Home={_home}", "--AyTrack:Settings:Timing:Threads=4");
        Playwright = await Microsoft.Playwright.Playwright.CreateAsync();
        Browser = await Playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = "/usr/bin/chromium",
            Headless = true,
            Args = ["--no-sandbox"],
        });
    }

    public async Task DisposeAsync()
    {
        await Browser.DisposeAsync();
        Playwright.Dispose();
        await Node.DisposeAsync();
        await World.DisposeAsync();
        Directory.Delete(_home, recursive: true);
    }
}

/// <summary>The Mail Sending Settings page and the status pages in a real browser, as an operator uses them.</summary>
public sealed class PageTests(PageFixture fixture) : IClassFixture<PageFixture>
{
    private static readonly string Screenshots = Path.Combine(Repository.Root, "tests", "AyTrack.Integration.Tests", "TestResults", "screenshots");
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private TestNode Node => fixture.Node;

    [Fact]
    public async Task A_wrong_token_is_refused_and_the_right_one_opens_the_settings_without_leaving_the_tab()
    {
        var (context, page) = await OpenAsync();
        await page.GotoAsync(Node.AdminUrl.ToString());
        await page.GetByLabel("Admin token").FillAsync("not-the-admin-token-not-the-admin-token");
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Assertions.Expect(page.Locator("#signin-error")).ToContainTextAsync("not accepted");

        await SignInAsync(page);
        await Assertions.Expect(page.GetByLabel("Threads", new() { Exact = true })).ToHaveValueAsync((await SettingsAsync()).GetProperty("timing").GetProperty("threads").ToString());
        Assert.DoesNotContain(Node.Token, page.Url);
        Assert.Empty(await context.CookiesAsync());
        Assert.Equal(0, await page.EvaluateAsync<int>("localStorage.length"));
        await ShotAsync(page, "settings");

        await page.SetViewportSizeAsync(390, 844);
        await ShotAsync(page, "settings-phone");
        await context.CloseAsync();
    }

    [Fact]
    public async Task Threads_changed_on_the_page_are_saved_and_every_pool_follows()
    {
        var (context, page) = await SignedInAsync();
        await page.GetByLabel("Threads", new() { Exact = true }).FillAsync("7");
        await Assertions.Expect(page.Locator("#unsaved")).ToBeVisibleAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Save" }).ClickAsync();
        await Assertions.Expect(page.Locator("#save-status")).ToHaveTextAsync("Saved.");
        await Assertions.Expect(page.Locator("#unsaved")).ToBeHiddenAsync();

        await Eventually.UntilAsync(async () => (await Node.Http.GetFromJsonAsync<List<NodeThreads>>("/api/threads"))!.Single().Routees == 7, Patience);
        await page.GetByRole(AriaRole.Button, new() { Name = "Cluster and threads" }).ClickAsync();
        await Assertions.Expect(page.Locator("#threads td.routees")).ToHaveTextAsync("7");
        await ShotAsync(page, "cluster");
        await context.CloseAsync();
    }

    [Fact]
    public async Task An_invalid_port_is_shown_beside_the_port_and_nothing_is_saved()
    {
        var before = await SettingsAsync();
        var (context, page) = await SignedInAsync();
        await page.GetByLabel("Port").FillAsync("70000");
        await page.GetByLabel("Server", new() { Exact = true }).FillAsync("smtp.changed.test");
        await page.GetByRole(AriaRole.Button, new() { Name = "Save" }).ClickAsync();

        await Assertions.Expect(page.Locator("[data-error='relay.port']")).ToContainTextAsync("65535");
        await Assertions.Expect(page.Locator("[data-path='relay.port']")).ToHaveClassAsync(new System.Text.RegularExpressions.Regex("invalid"));
        var after = await SettingsAsync();
        Assert.Equal(before.GetProperty("relay").ToString(), after.GetProperty("relay").ToString());
        await ShotAsync(page, "invalid-port");
        await context.CloseAsync();
    }

    [Fact]
    public async Task A_password_set_on_the_page_is_never_in_the_page_or_any_answer_afterwards()
    {
        const string password = "S3cret-Page-Password-8472";
        var (context, page) = await SignedInAsync();
        // Each body is asked for as its response arrives (it is gone after a reload) and awaited at the end: blocking
        // inside Playwright's event would stall its dispatcher.
        var bodies = new List<Task<string>>();
        page.Response += (_, response) =>
        {
            if (response.Url.Contains("/api/", StringComparison.Ordinal))
            {
                lock (bodies)
                {
                    bodies.Add(response.TextAsync());
                }
            }
        };

        await page.GetByLabel("Server requires user name and password").CheckAsync();
        await page.GetByLabel("User name", new() { Exact = true }).FillAsync("mailer");
        await page.Locator("#relay-password").FillAsync(password);
        await page.GetByRole(AriaRole.Button, new() { Name = "Save" }).ClickAsync();
        await Assertions.Expect(page.Locator("#save-status")).ToHaveTextAsync("Saved.");
        await Assertions.Expect(page.Locator("#password-state")).ToContainTextAsync("A password is set");

        await page.ReloadAsync();
        await Assertions.Expect(page.GetByLabel("User name", new() { Exact = true })).ToHaveValueAsync("mailer");
        await Assertions.Expect(page.Locator("#password-state")).ToContainTextAsync("A password is set");
        Assert.DoesNotContain(password, await page.ContentAsync());
        Assert.Equal(string.Empty, await page.Locator("#relay-password").InputValueAsync());
        Task<string>[] seen;
        lock (bodies)
        {
            seen = [.. bodies];
        }

        Assert.True(seen.Length >= 3, $"{seen.Length} answers seen");
        foreach (var body in await Task.WhenAll(seen))
        {
            Assert.DoesNotContain(password, body);
        }

        Assert.True((await SettingsAsync()).GetProperty("relay").GetProperty("passwordSet").GetBoolean());
        await context.CloseAsync();
    }

    [Fact]
    public async Task Suggest_fills_server_port_and_TLS_from_the_machines_mail_client()
    {
        var (context, page) = await SignedInAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Suggest" }).ClickAsync();
        var candidate = page.Locator("#suggestions button", new() { HasText = "smtp.page.test:587" });
        await Assertions.Expect(candidate).ToContainTextAsync("from thunderbird");
        await ShotAsync(page, "suggest");
        await candidate.ClickAsync();

        await Assertions.Expect(page.GetByLabel("Server", new() { Exact = true })).ToHaveValueAsync("smtp.page.test");
        await Assertions.Expect(page.GetByLabel("Port")).ToHaveValueAsync("587");
        await Assertions.Expect(page.GetByLabel("STARTTLS")).ToBeCheckedAsync();
        await Assertions.Expect(page.Locator("#unsaved")).ToBeVisibleAsync();
        await context.CloseAsync();
    }

    [Fact]
    public async Task A_domains_queue_is_held_and_released_from_the_queues_page()
    {
        await Node.SendAsync(TestNode.NewMessage("app@sender.test", ["someone@slow.test"], "Stuck for a while"));
        await DeliveryLogReader.WaitForAsync(Node.DataDir, "someone@slow.test", Patience, "deferred");
        // A hold leaves a message in its session alone: hold once the domain has the attempt's result.
        await Node.WaitForSettledQueueAsync("slow.test", q => q.Deferred == 1, Patience);
        var (context, page) = await SignedInAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Queues" }).ClickAsync();

        await page.GetByRole(AriaRole.Button, new() { Name = "hold slow.test" }).ClickAsync();
        await Assertions.Expect(page.Locator("tr[data-domain='slow.test'] td").Nth(3)).ToHaveTextAsync("1");
        Assert.Equal(1, (await Node.Http.GetFromJsonAsync<DomainQueue>("/api/queues/slow.test"))!.Held);
        await page.GetByRole(AriaRole.Button, new() { Name = "Messages of slow.test" }).ClickAsync();
        await Assertions.Expect(page.Locator("#message-list")).ToContainTextAsync("someone@slow.test");
        await ShotAsync(page, "queues");

        await page.GetByRole(AriaRole.Button, new() { Name = "release slow.test" }).ClickAsync();
        await Assertions.Expect(page.Locator("tr[data-domain='slow.test'] td").Nth(3)).ToHaveTextAsync("0");
        Assert.Equal(0, (await Node.Http.GetFromJsonAsync<DomainQueue>("/api/queues/slow.test"))!.Held);

        await page.GetByRole(AriaRole.Button, new() { Name = "Recent deliveries" }).ClickAsync();
        await Assertions.Expect(page.Locator("#deliveries")).ToContainTextAsync("someone@slow.test");
        await ShotAsync(page, "deliveries");
        await context.CloseAsync();
    }

    [Fact]
    public async Task A_site_is_suspended_and_resumed_from_the_sites_page()
    {
        await Node.SendAsync(TestNode.NewMessage("app@sender.test", ["someone@alpha.test"], "To list the site"));
        await DeliveryLogReader.WaitForAsync(Node.DataDir, "someone@alpha.test", Patience, "delivered");
        var (context, page) = await SignedInAsync();
        // The suspend button asks first; the operator says yes (accepted beside the handler, never inside it).
        page.Dialog += (_, dialog) => _ = dialog.AcceptAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Sites" }).ClickAsync();
        var row = page.Locator("tr[data-site='mx.alpha.test']");
        await Assertions.Expect(row).ToContainTextAsync("alpha.test");

        await page.GetByLabel("Reason").FillAsync("provider asked for a pause");
        await page.GetByRole(AriaRole.Button, new() { Name = "suspend mx.alpha.test" }).ClickAsync();
        await Assertions.Expect(row.Locator("td").Nth(6)).ToContainTextAsync("provider asked for a pause");
        Assert.NotNull((await Node.Http.GetFromJsonAsync<SiteView>("/api/sites/mx.alpha.test"))!.SuspendedUntil);
        await ShotAsync(page, "sites");

        await page.GetByRole(AriaRole.Button, new() { Name = "resume mx.alpha.test" }).ClickAsync();
        await Assertions.Expect(row.Locator("td").Nth(6)).ToHaveTextAsync(string.Empty);
        Assert.Null((await Node.Http.GetFromJsonAsync<SiteView>("/api/sites/mx.alpha.test"))!.SuspendedUntil);
        await context.CloseAsync();
    }

    [Fact]
    public async Task A_change_made_elsewhere_meanwhile_gets_412_and_the_page_offers_to_reload()
    {
        var (context, page) = await SignedInAsync();
        await Node.ConfigureAsync("""{"timing":{"maxLoadPerHour":1234}}""");

        await page.GetByLabel("Maximum load (messages per hour, 0: no limit)").FillAsync("999");
        await page.GetByRole(AriaRole.Button, new() { Name = "Save" }).ClickAsync();
        await Assertions.Expect(page.Locator("#conflict")).ToBeVisibleAsync();
        Assert.Equal(1234, (await SettingsAsync()).GetProperty("timing").GetProperty("maxLoadPerHour").GetInt32());
        await ShotAsync(page, "conflict");

        await page.GetByRole(AriaRole.Button, new() { Name = "Reload the settings" }).ClickAsync();
        await Assertions.Expect(page.GetByLabel("Maximum load (messages per hour, 0: no limit)")).ToHaveValueAsync("1234");
        await Assertions.Expect(page.Locator("#conflict")).ToBeHiddenAsync();
        await context.CloseAsync();
    }

    private async Task<(IBrowserContext, IPage)> OpenAsync()
    {
        var context = await fixture.Browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 800 } });
        var page = await context.NewPageAsync();
        page.Dialog += (_, dialog) => dialog.AcceptAsync();
        return (context, page);
    }

    private async Task<(IBrowserContext, IPage)> SignedInAsync()
    {
        var (context, page) = await OpenAsync();
        await page.GotoAsync(Node.AdminUrl.ToString());
        await SignInAsync(page);
        return (context, page);
    }

    private async Task SignInAsync(IPage page)
    {
        await page.GetByLabel("Admin token").FillAsync(Node.Token);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Assertions.Expect(page.Locator("#settings-view")).ToBeVisibleAsync();
        await Assertions.Expect(page.GetByLabel("Threads", new() { Exact = true })).Not.ToHaveValueAsync(string.Empty);
    }

    private async Task<JsonElement> SettingsAsync() => await Node.Http.GetFromJsonAsync<JsonElement>("/api/settings");

    private static async Task ShotAsync(IPage page, string name)
    {
        Directory.CreateDirectory(Screenshots);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Screenshots, name + ".png"), FullPage = true });
    }
}
