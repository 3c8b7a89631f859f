using System.CommandLine;

namespace AyTrack.Demo;

/// <summary>
/// `dotnet run --project src/AyTrack.Demo`: a node in a loopback world of .test domains, watched while it delivers.
/// Nothing leaves this machine.
/// </summary>
public static class DemoCommand
{
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error)
    {
        var messages = new Option<int>("--messages") { Description = "Messages to inject", DefaultValueFactory = _ => 2000 };
        var sessions = new Option<int>("--sessions") { Description = "Concurrent SMTP sessions", DefaultValueFactory = _ => 10 };
        var mode = new Option<string>("--mode") { Description = "Direct, RelayAll or DirectThenRelay", DefaultValueFactory = _ => "Direct" };
        var keep = new Option<bool>("--keep") { Description = "Keep the node's data directory (delivery.log) afterwards" };
        var root = new RootCommand("Run a node in a loopback world of .test domains and watch it deliver (nothing leaves this machine)")
        {
            messages, sessions, mode, keep,
        };
        root.SetAction(async (p, cancellationToken) =>
        {
            if (p.GetValue(mode) is not ("Direct" or "RelayAll" or "DirectThenRelay") || p.GetValue(messages) < 1 || p.GetValue(sessions) < 1)
            {
                await error.WriteLineAsync("--mode must be Direct, RelayAll or DirectThenRelay; --messages and --sessions at least 1");
                return 2;
            }

            var live = ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected;
            return await DemoRun.RunAsync(new DemoRun.Options(p.GetValue(messages), p.GetValue(sessions), p.GetValue(mode)!,
                p.GetValue(keep), TimeSpan.FromMinutes(3)), output, live, cancellationToken);
        });

        return await root.Parse(args).InvokeAsync(new InvocationConfiguration { Output = output, Error = error });
    }
}
