using System.CommandLine;

namespace AyTrack.Cli;

/// <summary>
/// What every command shares: the global options (where the node is, its token, --json) and the writers it prints
/// to. A command's action runs through <see cref="Run"/>, so an operator's mistake prints one line and an exit code.
/// </summary>
public sealed class CliContext(TextWriter output, TextWriter error, TextReader? input = null)
{
    private readonly TextWriter _error = new SafeTextWriter(error);

    /// <summary>Where --password-stdin reads from: the process's standard input unless a test gives its own.</summary>
    public TextReader Input { get; } = input ?? Console.In;

    /// <summary>True when <see cref="Input"/> is a person at a terminal (a password may then be asked for without echo).</summary>
    public bool InteractiveInput => input is null && !Console.IsInputRedirected;

    public TextWriter Error => _error;

    public TextWriter Output { get; } = new SafeTextWriter(output);

    public Option<string?> Url { get; } = new("--url") { Description = "Admin API of the node (default: AYTRACK_URL, <data-dir>/node.json, http://127.0.0.1:8025)", Recursive = true };

    public Option<string?> Token { get; } = new("--token") { Description = "Bearer token (default: AYTRACK_TOKEN, then <data-dir>/admin.token)", Recursive = true };

    public Option<string> DataDir { get; } = new("--data-dir") { Description = "The node's data directory", DefaultValueFactory = _ => "./data", Recursive = true };

    public Option<bool> Json { get; } = new("--json") { Description = "Print the endpoint's JSON instead of a table", Recursive = true };

    public AdminClient Client(ParseResult parse) => new(parse.GetValue(Url), parse.GetValue(Token), parse.GetValue(DataDir)!);

    public bool WantsJson(ParseResult parse) => parse.GetValue(Json);

    /// <summary>Sets the command's action: exit code 0, or the <see cref="CliException"/>'s message and code.</summary>
    public void Run(Command command, Func<ParseResult, Task> action) => command.SetAction(async parse =>
    {
        try
        {
            await action(parse);
            return 0;
        }
        catch (CliException failure)
        {
            await _error.WriteLineAsync(failure.Message);
            return failure.ExitCode;
        }
    });
}
