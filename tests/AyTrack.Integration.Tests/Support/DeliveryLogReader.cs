using System.Text.Json;

namespace AyTrack.Integration.Tests.Support;

/// <summary>Reads the node's delivery log the way an operator's script would: one JSON object per line.</summary>
public static class DeliveryLogReader
{
    public static IReadOnlyList<JsonElement> Read(string dataDir)
    {
        var path = Path.Combine(dataDir, "delivery.log");
        if (!File.Exists(path))
        {
            return [];
        }

        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => JsonDocument.Parse(line).RootElement.Clone())
            .ToList();
    }

    /// <summary>Polls the log (it is written by another thread) until a line for the recipient appears.</summary>
    public static async Task<JsonElement> WaitForAsync(string dataDir, string recipient, TimeSpan timeout, string? outcome = null)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            var line = Read(dataDir).FirstOrDefault(e => e.GetProperty("recipient").GetString() == recipient &&
                                                         (outcome is null || e.GetProperty("outcome").GetString() == outcome));
            if (line.ValueKind != JsonValueKind.Undefined)
            {
                return line;
            }

            try
            {
                await Task.Delay(50, cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"no delivery log line for {recipient} within {timeout}");
            }
        }
    }
}
