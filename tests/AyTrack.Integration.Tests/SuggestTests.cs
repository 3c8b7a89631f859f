using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using AyTrack.Cli;
using AyTrack.Integration.Tests.Support;
using AyTrack.Loopback;
using Xunit;

namespace AyTrack.Integration.Tests;

/// <summary>Suggest on a sample home directory, the loopback DNS (SRV) and a loopback autoconfig server.</summary>
public sealed class SuggestTests
{
    [Fact]
    public async Task Suggest_ranks_candidates_from_mail_clients_DNS_and_autoconfig()
    {
        await using var world = LoopbackWorld.Create();
        world.Dns.AddSrv("_submissions._tcp.example.test", 0, 1, 465, "smtp.example.test");
        world.Dns.AddSrv("_submission._tcp.example.test", 0, 1, 587, ".");
        var home = Directory.CreateTempSubdirectory("aytrack-home").FullName;
        Directory.CreateDirectory(Path.Combine(home, ".thunderbird", "p1.default"));
        await File.WriteAllTextAsync(Path.Combine(home, ".thunderbird", "profiles.ini"), "[Profile0]\nIsRelative=1\nPath=p1.default\n");
        await File.WriteAllTextAsync(Path.Combine(home, ".thunderbird", "p1.default", "prefs.js"),
            "user_pref(\"mail.smtpserver.smtp1.hostname\", \"smtp.example.test\");\nuser_pref(\"mail.smtpserver.smtp1.port\", 465);\nuser_pref(\"mail.smtpserver.smtp1.try_ssl\", 3);\nuser_pref(\"mail.smtpserver.smtp1.username\", \"alice\");\n");
        await File.WriteAllTextAsync(Path.Combine(home, ".msmtprc"), "account a\nhost smtp.isp.test\nport 25\n");
        using var autoconfig = new HttpListener();
        var port = LocalSystem.FreePort();
        autoconfig.Prefixes.Add($"http://127.0.0.1:{port}/");
        autoconfig.Start();
        _ = ServeAutoconfigAsync(autoconfig);

        await using var node = await TestNode.StartAsync(world, $"--AyTrack:Suggest:Home={home}",
            $"--AyTrack:Suggest:AutoconfigUrls:0=http://127.0.0.1:{port}/{{domain}}/config-v1.1.xml");

        var found = await node.Http.GetFromJsonAsync<JsonElement>("/api/settings/suggest?email=alice@example.test");
        var list = found.EnumerateArray().ToList();
        var first = list[0];
        Assert.Equal("smtp.example.test", first.GetProperty("host").GetString());
        Assert.Equal(465, first.GetProperty("port").GetInt32());
        Assert.Equal("SslOnConnect", first.GetProperty("tls").GetString());
        var sources = first.GetProperty("sources").EnumerateArray().Select(s => s.GetString()!).ToList();
        Assert.Contains(sources, s => s.StartsWith("thunderbird"));
        Assert.Contains(sources, s => s == "dns SRV _submissions._tcp.example.test");
        Assert.Contains(sources, s => s.StartsWith("autoconfig"));
        Assert.Contains(list, c => c.GetProperty("host").GetString() == "submit.example.test" && c.GetProperty("tls").GetString() == "StartTls");
        Assert.Equal("smtp.isp.test", list[^1].GetProperty("host").GetString());
        // The "." SRV target means "no such service" and suggests nothing.
        Assert.DoesNotContain(list, c => c.GetProperty("port").GetInt32() == 587 && c.GetProperty("host").GetString() == "");

        var invalid = await node.Http.GetAsync("/api/settings/suggest?email=not-an-address");
        Assert.Equal(HttpStatusCode.BadRequest, invalid.StatusCode);

        var cli = new StringWriter();
        Assert.Equal(0, await AyTrackCli.RunAsync(["suggest", "--url", node.AdminUrl.ToString(), "--token", node.Token], cli, TextWriter.Null));
        Assert.Contains("To use the first: aytrack settings set relay.host=smtp.example.test relay.port=465 relay.tls=SslOnConnect", cli.ToString());
    }

    private static async Task ServeAutoconfigAsync(HttpListener listener)
    {
        while (listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await listener.GetContextAsync();
            }
            catch (Exception error) when (error is HttpListenerException or ObjectDisposedException)
            {
                return;
            }

            var found = context.Request.Url!.AbsolutePath == "/example.test/config-v1.1.xml";
            context.Response.StatusCode = found ? 200 : 404;
            if (found)
            {
                var xml = Encoding.UTF8.GetBytes("""
                    <clientConfig version="1.1"><emailProvider id="example.test">
                      <outgoingServer type="smtp"><hostname>smtp.example.test</hostname><port>465</port><socketType>SSL</socketType><username>%EMAILADDRESS%</username></outgoingServer>
                      <outgoingServer type="smtp"><hostname>submit.example.test</hostname><port>587</port><socketType>STARTTLS</socketType><username>%EMAILADDRESS%</username></outgoingServer>
                    </emailProvider></clientConfig>
                    """);
                await context.Response.OutputStream.WriteAsync(xml);
            }

            context.Response.Close();
        }
    }
}
