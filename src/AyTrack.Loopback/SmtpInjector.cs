using System.Diagnostics;
using System.Net;
using System.Text;

namespace AyTrack.Loopback;

/// <summary>What to inject: message i goes to <see cref="Route"/>(i).Recipient through the SMTP server at its Target.</summary>
public sealed record InjectionPlan(int Messages, int Sessions, int Size, Func<int, (string Recipient, IPEndPoint Target)> Route)
{
    public string Sender { get; init; } = "app@sender.test";

    /// <summary>Makes Message-IDs unique to this run: &lt;i.RunId@sender.test&gt;.</summary>
    public string RunId { get; init; } = Guid.NewGuid().ToString("N")[..12];

    public string MessageId(int i) => $"<{i}.{RunId}@sender.test>";
}

public sealed record InjectionResult(int Accepted, int Refused, TimeSpan Elapsed, double[] AcceptLatenciesMs, IReadOnlyList<string> Errors)
{
    public double PerSecond => Accepted / Elapsed.TotalSeconds;

    /// <summary>The q-quantile (0..1) of the time from the end of DATA to the server's reply, in milliseconds.</summary>
    public double Percentile(double q)
    {
        if (AcceptLatenciesMs.Length == 0)
        {
            return 0;
        }

        var sorted = AcceptLatenciesMs.Order().ToArray();
        return sorted[Math.Min(sorted.Length - 1, (int)(sorted.Length * q))];
    }
}

/// <summary>
/// A lean SMTP injector for the demo and the benchmark: K sessions, each keeps one connection per target, pipelines
/// MAIL, RCPT and DATA (RFC 2920) and sends pre-built message bytes, so the injector costs little next to the server
/// it measures. The acceptance latency is the time from the end of the data to the final reply, the moment the
/// server has to make the message durable in.
/// </summary>
public static class SmtpInjector
{
    public static async Task<InjectionResult> RunAsync(InjectionPlan plan, Action<int, bool>? onResult = null, CancellationToken cancellationToken = default)
    {
        var body = BuildBody(plan.Size);
        var latencies = new double[plan.Messages];
        var accepted = 0;
        var refused = 0;
        var errors = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var next = -1;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, plan.Sessions).Select(async _ =>
        {
            var clients = new Dictionary<IPEndPoint, RawSmtpClient>();
            try
            {
                int i;
                while ((i = Interlocked.Increment(ref next)) < plan.Messages && !cancellationToken.IsCancellationRequested)
                {
                    var (recipient, target) = plan.Route(i);
                    if (!clients.TryGetValue(target, out var client))
                    {
                        client = await RawSmtpClient.ConnectAsync(target);
                        var ehlo = await client.CommandAsync("EHLO injector.test");
                        if (ehlo.Code != 250)
                        {
                            throw new IOException($"EHLO refused by {target}: {ehlo}");
                        }

                        clients[target] = client;
                    }

                    await client.WriteAsync($"MAIL FROM:<{plan.Sender}>\r\nRCPT TO:<{recipient}>\r\nDATA\r\n");
                    var mail = await client.ReadReplyAsync();
                    var rcpt = await client.ReadReplyAsync();
                    var data = await client.ReadReplyAsync();
                    if (data.Code != 354)
                    {
                        Interlocked.Increment(ref refused);
                        errors.Enqueue($"{recipient}: {(mail.Code != 250 ? mail : rcpt.Code != 250 ? rcpt : data)}");
                        await client.CommandAsync("RSET");
                        onResult?.Invoke(i, false);
                        continue;
                    }

                    // Headers and body in one write, as a real client's buffered stream sends them.
                    var headers = Encoding.UTF8.GetBytes(
                        $"Message-ID: {plan.MessageId(i)}\r\nFrom: <{plan.Sender}>\r\nTo: <{recipient}>\r\nSubject: message {i}\r\n" +
                        $"Date: {DateTimeOffset.UtcNow:R}\r\n\r\n");
                    var message = new byte[headers.Length + body.Length];
                    headers.CopyTo(message, 0);
                    body.CopyTo(message, headers.Length);
                    await client.WriteAsync(message);
                    var sent = Stopwatch.GetTimestamp();
                    var reply = await client.ReadReplyAsync();
                    latencies[i] = Stopwatch.GetElapsedTime(sent).TotalMilliseconds;
                    var ok = reply.Code == 250;
                    if (ok)
                    {
                        Interlocked.Increment(ref accepted);
                    }
                    else
                    {
                        Interlocked.Increment(ref refused);
                        errors.Enqueue($"{recipient}: {reply}");
                    }

                    onResult?.Invoke(i, ok);
                }
            }
            finally
            {
                foreach (var client in clients.Values)
                {
                    await client.DisposeAsync();
                }
            }
        }));
        return new InjectionResult(accepted, refused, clock.Elapsed, latencies.Where(l => l > 0).ToArray(), errors.ToList());
    }

    /// <summary>About <paramref name="size"/> bytes of 78-character lines, ending with the end-of-data line.</summary>
    private static byte[] BuildBody(int size)
    {
        var line = new string('x', 76) + "\r\n";
        var text = new StringBuilder();
        while (text.Length + line.Length <= Math.Max(line.Length, size - 200))
        {
            text.Append(line);
        }

        return Encoding.ASCII.GetBytes(text.Append(".\r\n").ToString());
    }
}
