using System.CommandLine;
using System.Text;
using System.Text.Json;
using AyTrack.Contracts;

namespace AyTrack.Cli.Commands;

/// <summary>
/// `aytrack users list | add NAME [--password-stdin] [--sender-domain D …] | remove NAME | passwd NAME [--password-stdin]
/// | domains NAME [--sender-domain D …]`: the submission logins (/api/users). A password is read from standard input
/// (--password-stdin, for scripts) or asked for twice at the terminal without echo; it is never an argument, where it
/// would show in the process list and the shell's history.
/// </summary>
public static class UsersCommands
{
    public static Command Create(CliContext cli)
    {
        var users = new Command("users", "Submission logins (SMTP AUTH on the submission listeners and, after STARTTLS, the relay listener)");

        var list = new Command("list", "Every user and the sender domains it may use");
        cli.Run(list, async p =>
        {
            using var client = cli.Client(p);
            var all = await client.GetAsync<List<UserView>>("/api/users");
            cli.Output.Write(cli.WantsJson(p)
                ? JsonSerializer.Serialize(all, AdminClient.Json) + Environment.NewLine
                : Output.Table(["name", "sender domains", "created", "updated"],
                    all.Select(u => (IReadOnlyList<string?>)[u.Name, u.SenderDomains.Count == 0 ? "(any)" : string.Join(", ", u.SenderDomains),
                        Output.Time(u.CreatedAt), Output.Time(u.UpdatedAt)])));
        });

        var name = new Argument<string>("name") { Description = "The login name (an address such as app@example.com is usual)" };
        var passwordStdin = new Option<bool>("--password-stdin") { Description = "Read the password from the first line of standard input" };
        var senderDomain = new Option<string[]>("--sender-domain")
        {
            Description = "A domain the user may send from (MAIL FROM); repeat for several; none: any",
            AllowMultipleArgumentsPerToken = false,
        };

        var add = new Command("add", "Add a user") { name, passwordStdin, senderDomain };
        cli.Run(add, async p =>
        {
            var password = ReadPassword(cli, p.GetValue(passwordStdin));
            using var client = cli.Client(p);
            var added = await client.PostAsync<UserView>("/api/users", new UserRequest(p.GetValue(name), password, p.GetValue(senderDomain) ?? []));
            cli.Output.WriteLine($"added {added.Name}{(added.SenderDomains.Count > 0 ? $" (may send from {string.Join(", ", added.SenderDomains)})" : string.Empty)}");
        });

        var remove = new Command("remove", "Remove a user; its open sessions keep their login until they end") { name };
        cli.Run(remove, async p =>
        {
            using var client = cli.Client(p);
            await client.DeleteAsync($"/api/users/{Uri.EscapeDataString(p.GetValue(name)!)}");
            cli.Output.WriteLine($"removed {p.GetValue(name)}");
        });

        var passwd = new Command("passwd", "Set a user's password") { name, passwordStdin };
        cli.Run(passwd, async p =>
        {
            var password = ReadPassword(cli, p.GetValue(passwordStdin));
            using var client = cli.Client(p);
            await client.PutAsync<UserView>($"/api/users/{Uri.EscapeDataString(p.GetValue(name)!)}/password", new PasswordRequest(password));
            cli.Output.WriteLine($"password of {p.GetValue(name)} changed");
        });

        var domains = new Command("domains", "Set the domains a user may send from (none: any)") { name, senderDomain };
        cli.Run(domains, async p =>
        {
            using var client = cli.Client(p);
            var changed = await client.PutAsync<UserView>($"/api/users/{Uri.EscapeDataString(p.GetValue(name)!)}/sender-domains",
                new SenderDomainsRequest(p.GetValue(senderDomain) ?? []));
            cli.Output.WriteLine(changed.SenderDomains.Count == 0
                ? $"{changed.Name} may send from any domain"
                : $"{changed.Name} may send from {string.Join(", ", changed.SenderDomains)}");
        });

        users.Subcommands.Add(list);
        users.Subcommands.Add(add);
        users.Subcommands.Add(remove);
        users.Subcommands.Add(passwd);
        users.Subcommands.Add(domains);
        return users;
    }

    private static string ReadPassword(CliContext cli, bool fromStdin)
    {
        if (fromStdin)
        {
            var line = cli.Input.ReadLine();
            return string.IsNullOrEmpty(line) ? throw new CliException("--password-stdin: standard input has no password line") : line;
        }

        if (!cli.InteractiveInput)
        {
            throw new CliException("standard input is not a terminal: give the password with --password-stdin");
        }

        var first = Prompt(cli, "Password: ");
        var second = Prompt(cli, "Password again: ");
        return first == second ? first : throw new CliException("the two passwords differ; nothing changed");
    }

    private static string Prompt(CliContext cli, string label)
    {
        cli.Error.Write(label);
        var text = new StringBuilder();
        while (true)
        {
            var key = Console.ReadKey(intercept: true);
            if (key.Key == ConsoleKey.Enter)
            {
                cli.Error.WriteLine();
                return text.ToString();
            }

            if (key.Key == ConsoleKey.Backspace)
            {
                if (text.Length > 0)
                {
                    text.Length--;
                }
            }
            else if (!char.IsControl(key.KeyChar))
            {
                text.Append(key.KeyChar);
            }
        }
    }
}
