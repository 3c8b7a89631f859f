using AyTrack.Demo;
using Xunit;
using Xunit.Abstractions;

namespace AyTrack.Integration.Tests;

/// <summary>The demo (src/AyTrack.Demo) in its tiny mode, as CI runs it: every message ends delivered or bounced with a DSN.</summary>
public sealed class DemoTests(ITestOutputHelper testOutput)
{
    [Fact]
    public async Task The_demo_delivers_or_bounces_every_message_and_exits_0()
    {
        var output = new StringWriter();
        var error = new StringWriter();

        var exit = await DemoCommand.RunAsync(["--messages", "200", "--sessions", "5"], output, error);

        testOutput.WriteLine(output.ToString());
        Assert.Equal(0, exit);
        // 200 messages over 10 domains: 20 to the null MX domain and 5 "gone" users at the picky one bounce.
        Assert.Contains("200 messages accepted (0 refused at injection), 175 delivered (0 through the relay), 25 bounced with 25 DSNs delivered", output.ToString());
        Assert.Matches(@"greylist\.demo\.test\s+20\s+20\s", output.ToString());
        Assert.Empty(error.ToString());
    }

    [Fact]
    public async Task A_demo_mode_that_does_not_exist_is_refused_with_exit_code_2()
    {
        var error = new StringWriter();

        Assert.Equal(2, await DemoCommand.RunAsync(["--mode", "Carrier"], new StringWriter(), error));
        Assert.Contains("--mode", error.ToString());
    }
}
