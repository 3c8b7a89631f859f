using System.Net;
using System.Net.Sockets;
using System.Text;

namespace AyTrack.Loopback;

/// <summary>
/// A receiving host of an older generation: ESMTP without SMTPUTF8 (RFC 6531) that accepts everything and records
/// the command lines exactly as they arrived (the test sinks' library parses addresses; this one shows the wire). A
/// mail that needs SMTPUTF8 must never be sent to it.
/// </summary>
public sealed class LegacyHost : LoopbackTcpHost
{
    private readonly List<string> _commands = [];
    private readonly string _ehlo;
    private int _mailCommands;

    /// <param name="extensions">More ESMTP extensions to advertise (DSN, for a next hop that takes RFC 3461's parameters).</param>
    public LegacyHost(IPEndPoint endpoint, params string[] extensions)
        : base(endpoint)
    {
        _ehlo = string.Concat(new[] { "legacy.test", "8BITMIME" }.Concat(extensions).Select(e => $"250-{e}\r\n")) + "250 PIPELINING";
        Accept();
    }

    /// <summary>How many MAIL commands it was sent.</summary>
    public int MailCommands => Volatile.Read(ref _mailCommands);

    /// <summary>Every command line received, in order (not the message data).</summary>
    public IReadOnlyList<string> Commands
    {
        get
        {
            lock (_commands)
            {
                return _commands.ToArray();
            }
        }
    }

    /// <summary>How many messages it accepted.</summary>
    public int Messages { get; private set; }

    protected override async Task ServeAsync(TcpClient client)
    {
        using (client)
        {
            try
            {
                var stream = client.GetStream();
                using var reader = new StreamReader(stream, Encoding.UTF8);
                await using var writer = new StreamWriter(stream, Encoding.ASCII) { NewLine = "\r\n", AutoFlush = true };
                await writer.WriteLineAsync("220 legacy.test ESMTP");
                while (await reader.ReadLineAsync(Stopping) is { } line)
                {
                    var verb = line.Split(' ')[0].ToUpperInvariant();
                    lock (_commands)
                    {
                        _commands.Add(line);
                    }

                    if (verb == "MAIL")
                    {
                        Interlocked.Increment(ref _mailCommands);
                    }

                    if (verb == "DATA")
                    {
                        await writer.WriteLineAsync("354 Go ahead");
                        while (await reader.ReadLineAsync(Stopping) is { } data && data != ".")
                        {
                        }

                        Messages++;
                        await writer.WriteLineAsync("250 Ok");
                        continue;
                    }

                    await writer.WriteLineAsync(verb switch
                    {
                        "EHLO" => _ehlo,
                        "QUIT" => "221 Bye",
                        _ => "250 Ok",
                    });
                    if (verb == "QUIT")
                    {
                        return;
                    }
                }
            }
            catch (Exception error) when (error is IOException or OperationCanceledException or ObjectDisposedException)
            {
            }
        }
    }
}
