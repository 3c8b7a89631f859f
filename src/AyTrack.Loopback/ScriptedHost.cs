using System.Net;
using System.Net.Sockets;
using System.Text;

namespace AyTrack.Loopback;

/// <summary>
/// A receiving host whose every answer a test writes: <c>answer</c> gets each command line and returns the bytes to
/// send back (any number of reply lines, well-formed or not), or null to hang up. After an answer to DATA that starts
/// with 354 the host reads the message data up to the lone dot, keeps it exactly as it came over the wire, and asks
/// <c>answer</c> about <see cref="EndOfData"/>. For what the well-behaved sinks cannot do: misbehave.
/// </summary>
public sealed class ScriptedHost : LoopbackTcpHost
{
    /// <summary>The "command" <c>answer</c> is asked about once the data of a message has arrived.</summary>
    public const string EndOfData = "<end of data>";

    private readonly Func<string, string?> _answer;
    private readonly string _greeting;
    private readonly List<string> _commands = [];
    private readonly List<byte[]> _data = [];

    public ScriptedHost(IPEndPoint endpoint, Func<string, string?> answer, string greeting = "220 scripted.test ESMTP\r\n")
        : base(endpoint)
    {
        _answer = answer;
        _greeting = greeting;
        Accept();
    }

    /// <summary>Every command line received, in order.</summary>
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

    /// <summary>Each message's data as it came over the wire (dot-stuffed, up to and including the line with the dot).</summary>
    public IReadOnlyList<byte[]> Data
    {
        get
        {
            lock (_data)
            {
                return _data.ToArray();
            }
        }
    }

    protected override async Task ServeAsync(TcpClient client)
    {
        using (client)
        {
            try
            {
                var stream = client.GetStream();
                await WriteAsync(stream, _greeting);
                var line = new List<byte>();
                var buffer = new byte[1];
                while (await stream.ReadAsync(buffer, Stopping) == 1)
                {
                    line.Add(buffer[0]);
                    if (buffer[0] != (byte)'\n')
                    {
                        continue;
                    }

                    var command = Encoding.UTF8.GetString(line.ToArray()).TrimEnd('\r', '\n');
                    line.Clear();
                    lock (_commands)
                    {
                        _commands.Add(command);
                    }

                    var answer = _answer(command);
                    if (answer is null)
                    {
                        return;
                    }

                    await WriteAsync(stream, answer);
                    if (command.Equals("DATA", StringComparison.OrdinalIgnoreCase) && answer.StartsWith("354", StringComparison.Ordinal))
                    {
                        var data = await ReadDataAsync(stream);
                        lock (_data)
                        {
                            _data.Add(data);
                        }

                        if (_answer(EndOfData) is not { } end)
                        {
                            return;
                        }

                        await WriteAsync(stream, end);
                    }
                }
            }
            catch (Exception error) when (error is IOException or OperationCanceledException or ObjectDisposedException or SocketException)
            {
            }
        }
    }

    private async Task<byte[]> ReadDataAsync(NetworkStream stream)
    {
        var data = new List<byte>();
        var buffer = new byte[1];
        while (await stream.ReadAsync(buffer, Stopping) == 1)
        {
            data.Add(buffer[0]);
            if (data.Count == 3 && data[0] == (byte)'.' && data[1] == (byte)'\r' && data[2] == (byte)'\n'
                || data.Count >= 5 && data[^5] == (byte)'\r' && data[^4] == (byte)'\n' && data[^3] == (byte)'.' && data[^2] == (byte)'\r' && data[^1] == (byte)'\n')
            {
                return data.ToArray();
            }
        }

        throw new IOException("the client closed the connection during the data");
    }

    private async Task WriteAsync(NetworkStream stream, string text)
    {
        await stream.WriteAsync(Encoding.UTF8.GetBytes(text), Stopping);
    }
}
