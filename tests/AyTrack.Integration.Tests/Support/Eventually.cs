namespace AyTrack.Integration.Tests.Support;

/// <summary>Waits on a condition the node reaches asynchronously, checking it often, failing after a deadline.</summary>
public static class Eventually
{
    public static async Task UntilAsync(Func<Task<bool>> condition, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (!await condition())
        {
            await Task.Delay(20, cts.Token);
        }
    }

    public static Task UntilAsync(Func<bool> condition, TimeSpan timeout) => UntilAsync(() => Task.FromResult(condition()), timeout);
}
