using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using AyTrack.Contracts;
using AyTrack.Loopback;
using AyTrack.Node;
using AyTrack.Node.Admin;
using AyTrack.Core.Spool;
using MailKit.Net.Smtp;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using MimeKit;

namespace AyTrack.Integration.Tests.Support;

/// <summary>An AyTrack node started in-process for a test, with its own data directory and free ports.</summary>
public sealed class TestNode : IAsyncDisposable
{
    private readonly WebApplication _app;

    private TestNode(WebApplication app, string dataDir)
    {
        _app = app;
        DataDir = dataDir;
        var info = app.Services.GetRequiredService<NodeInfo>();
        SmtpEndpoint = info.SmtpEndpoint!;
        SubmissionEndpoint = info.SubmissionEndpoint;
        SubmissionTlsEndpoint = info.SubmissionTlsEndpoint;
        AdminUrl = new Uri(app.Urls.First());
        Token = File.ReadAllText(Path.Combine(dataDir, "admin.token")).Trim();
        Http = new HttpClient { BaseAddress = AdminUrl };
        Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
    }

    public string DataDir { get; }

    public IPEndPoint SmtpEndpoint { get; }

    /// <summary>The submission listener (587-style, STARTTLS) when AyTrack:Submission:Endpoint is set.</summary>
    public IPEndPoint? SubmissionEndpoint { get; }

    /// <summary>The implicit-TLS submission listener (465-style) when AyTrack:Submission:TlsEndpoint is set.</summary>
    public IPEndPoint? SubmissionTlsEndpoint { get; }

    public Uri AdminUrl { get; }

    public string Token { get; }

    /// <summary>An admin API client that sends the node's bearer token.</summary>
    public HttpClient Http { get; }

    public IServiceProvider Services => _app.Services;

    public ISpool Spool => _app.Services.GetRequiredService<ISpool>();

    public static Task<TestNode> StartAsync(LoopbackWorld world, params string[] extraArguments) =>
        StartInAsync(world, Path.Combine(Path.GetTempPath(), "aytrack-tests", Guid.NewGuid().ToString("N")), extraArguments);

    /// <summary>A node on a data directory the test prepared (or one an earlier node left).</summary>
    public static async Task<TestNode> StartInAsync(LoopbackWorld world, string dataDir, params string[] extraArguments)
    {
        Directory.CreateDirectory(dataDir);
        var app = NodeHost.Build([.. world.NodeArguments(dataDir), .. extraArguments]);
        await app.StartAsync();
        var node = new TestNode(app, dataDir);
        await node.WaitUntilHealthyAsync();
        return node;
    }

    /// <summary>Sends a message over SMTP to the node and returns the server's reply to the end of DATA.</summary>
    public async Task<string> SendAsync(MimeMessage message, string? sender = null, params string[] recipients)
    {
        using var client = new SmtpClient();
        await client.ConnectAsync(SmtpEndpoint.Address.ToString(), SmtpEndpoint.Port, MailKit.Security.SecureSocketOptions.None);
        var from = sender is null ? message.From.Mailboxes.First() : new MailboxAddress(string.Empty, sender);
        // MailKit writes MAIL FROM:<> for an empty address: the null reverse-path of bounces.
        var to = recipients.Length > 0
            ? recipients.Select(r => new MailboxAddress(string.Empty, r)).ToList()
            : message.To.Mailboxes.ToList();
        var reply = await client.SendAsync(message, from, to);
        await client.DisconnectAsync(true);
        return reply;
    }

    /// <summary>Runs `aytrack ARGS` against this node in-process, with <paramref name="stdin"/> as its input: exit code, output, errors.</summary>
    public async Task<(int Exit, string Out, string Err)> CliAsync(string stdin, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var exit = await AyTrack.Cli.AyTrackCli.RunAsync([.. args, "--url", AdminUrl.ToString(), "--token", Token], output, error, new StringReader(stdin));
        return (exit, output.ToString(), error.ToString());
    }

    /// <summary>
    /// Waits until the domain's queue, as GET /api/queues/{domain} shows it, has no session open and satisfies
    /// <paramref name="condition"/>, and returns it. A delivery-log line is written as a session ends, before the domain
    /// has taken its results: a test that read the log and then the queue (or acted on it) would race that hand-over.
    /// </summary>
    public Task<DomainQueue> WaitForSettledQueueAsync(string domain, Func<DomainQueue, bool> condition, TimeSpan timeout) =>
        WaitForSettledQueueAsync(Http, domain, condition, timeout);

    /// <summary>The same, through any node's admin client (one started as its own process, too).</summary>
    public static async Task<DomainQueue> WaitForSettledQueueAsync(HttpClient admin, string domain, Func<DomainQueue, bool> condition,
        TimeSpan timeout)
    {
        DomainQueue? queue = null;
        await Eventually.UntilAsync(async () =>
        {
            queue = await admin.GetFromJsonAsync<DomainQueue>($"/api/queues/{domain}", AyTrack.Cli.AdminClient.Json);
            return queue!.Sessions == 0 && condition(queue);
        }, timeout);
        return queue!;
    }

    /// <summary>Changes the node's settings with a JSON merge patch, as an operator would, and insists it is accepted.</summary>
    public async Task ConfigureAsync(string mergePatch)
    {
        var response = await Http.SendAsync(new HttpRequestMessage(HttpMethod.Patch, "/api/settings")
        {
            Content = new StringContent(mergePatch, System.Text.Encoding.UTF8, "application/merge-patch+json"),
        });
        Xunit.Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
    }

    public static MimeMessage NewMessage(string from, IEnumerable<string> to, string subject, string body = "Hello from the loopback world.")
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse(from));
        foreach (var recipient in to)
        {
            message.To.Add(MailboxAddress.Parse(recipient));
        }

        message.Subject = subject;
        message.MessageId = MimeKit.Utils.MimeUtils.GenerateMessageId("sender.test");
        message.Body = new TextPart("plain") { Text = body };
        return message;
    }

    /// <summary>Leave the data directory when the node is disposed, for a test that starts again on it.</summary>
    public bool KeepDataDir { get; set; }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        if (KeepDataDir)
        {
            return;
        }

        try
        {
            Directory.Delete(DataDir, recursive: true);
        }
        catch (IOException)
        {
            // A file still held open by a finalising connection is left to the temp directory's cleanup.
        }
    }

    private async Task WaitUntilHealthyAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        using var anonymous = new HttpClient { BaseAddress = AdminUrl };
        while (true)
        {
            var response = await anonymous.GetAsync("/healthz", cts.Token);
            if (response.IsSuccessStatusCode)
            {
                return;
            }

            await Task.Delay(50, cts.Token);
        }
    }
}
