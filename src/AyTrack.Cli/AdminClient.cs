using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace AyTrack.Cli;

/// <summary>A failure the operator can act on: printed as one line, never as a stack trace.</summary>
public sealed class CliException(string message, int exitCode = 1) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}

/// <summary>
/// The node's admin HTTP API as the CLI uses it. Where to connect: --url, else AYTRACK_URL, else the admin address
/// the node wrote to &lt;data-dir&gt;/node.json, else http://127.0.0.1:8025. Token: --token, else AYTRACK_TOKEN, else
/// &lt;data-dir&gt;/admin.token.
/// </summary>
public sealed class AdminClient : IDisposable
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private readonly HttpClient _http;

    public AdminClient(string? url, string? token, string dataDir)
    {
        BaseUrl = new Uri(url ?? Environment.GetEnvironmentVariable("AYTRACK_URL") ?? NodeFileUrl(dataDir) ?? "http://127.0.0.1:8025");
        var resolvedToken = token ?? Environment.GetEnvironmentVariable("AYTRACK_TOKEN") ?? TokenFile(dataDir);
        _http = new HttpClient { BaseAddress = BaseUrl, Timeout = TimeSpan.FromSeconds(30) };
        if (resolvedToken is not null)
        {
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", resolvedToken);
        }

        _http.DefaultRequestHeaders.Add("X-AyTrack-Client", ClientLabel($"aytrack-cli ({Environment.UserName}@{Environment.MachineName})"));
    }

    public Uri BaseUrl { get; }

    public Task<T> GetAsync<T>(string path) => SendAsync<T>(new HttpRequestMessage(HttpMethod.Get, path));

    /// <summary>A GET whose 503 still carries the answer (the health report of a node that is starting or down).</summary>
    public Task<T> GetAsync<T>(string path, bool acceptServiceUnavailable) =>
        SendAsync<T>(new HttpRequestMessage(HttpMethod.Get, path), acceptServiceUnavailable);

    public Task<T> PostAsync<T>(string path, object body) =>
        SendAsync<T>(new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body, options: Json) });

    public Task<T> PutAsync<T>(string path, object body) =>
        SendAsync<T>(new HttpRequestMessage(HttpMethod.Put, path) { Content = JsonContent.Create(body, options: Json) });

    public Task<T> PatchAsync<T>(string path, string mergePatch) => SendAsync<T>(new HttpRequestMessage(HttpMethod.Patch, path)
    {
        Content = new StringContent(mergePatch, Encoding.UTF8, "application/merge-patch+json"),
    });

    public Task DeleteAsync(string path) => SendAsync<JsonElement?>(new HttpRequestMessage(HttpMethod.Delete, path));

    public void Dispose() => _http.Dispose();

    private async Task<T> SendAsync<T>(HttpRequestMessage request, bool acceptServiceUnavailable = false)
    {
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request);
        }
        catch (HttpRequestException error) when (error.InnerException is SocketException || error.HttpRequestError == HttpRequestError.ConnectionError)
        {
            throw new CliException($"No AyTrack node answers at {BaseUrl} (start one with: dotnet run --project src/AyTrack.Node, or pass --url).", 2);
        }
        catch (TaskCanceledException)
        {
            throw new CliException($"The node at {BaseUrl} did not answer within 30 seconds.", 2);
        }

        using (response)
        {
            var text = await response.Content.ReadAsStringAsync();
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                throw new CliException("The node refuses this address for a while after too many wrong tokens; wait a minute and use the right one.", 2);
            }

            if (response.StatusCode == HttpStatusCode.Unauthorized)
            {
                throw new CliException("The node refused the token: pass --token, set AYTRACK_TOKEN, or point --data-dir at the node's data directory (admin.token).", 2);
            }

            if (!response.IsSuccessStatusCode && !(acceptServiceUnavailable && response.StatusCode == HttpStatusCode.ServiceUnavailable))
            {
                throw new CliException(Describe(response.StatusCode, text));
            }

            if (text.Length == 0 && default(T) is null)
            {
                return default!;
            }

            if (typeof(T) == typeof(JsonElement) || typeof(T) == typeof(JsonElement?))
            {
                return (T)(object)JsonDocument.Parse(text).RootElement.Clone();
            }

            return JsonSerializer.Deserialize<T>(text, Json) ?? throw new CliException($"The node sent an empty reply to {request.RequestUri}.");
        }
    }

    /// <summary>Problem details as lines an operator reads: "timing.threads: must be between 1 and 500".</summary>
    private static string Describe(HttpStatusCode status, string body)
    {
        try
        {
            var problem = JsonDocument.Parse(body).RootElement;
            if (problem.TryGetProperty("errors", out var errors) && errors.ValueKind == JsonValueKind.Object)
            {
                return string.Join(Environment.NewLine, errors.EnumerateObject()
                    .SelectMany(e => e.Value.EnumerateArray().Select(m => $"{e.Name}: {m.GetString()}")));
            }

            var detail = problem.TryGetProperty("detail", out var d) ? d.GetString() : null;
            var title = problem.TryGetProperty("title", out var t) ? t.GetString() : null;
            return $"{(int)status} {detail ?? title ?? status.ToString()}";
        }
        catch (JsonException)
        {
            return $"{(int)status} {status}";
        }
    }

    private static string? NodeFileUrl(string dataDir)
    {
        var file = Path.Combine(dataDir, "node.json");
        try
        {
            return File.Exists(file) ? JsonDocument.Parse(File.ReadAllText(file)).RootElement.GetProperty("admin").GetString() : null;
        }
        catch (Exception error) when (error is JsonException or KeyNotFoundException or IOException)
        {
            return null;
        }
    }

    private static string? TokenFile(string dataDir)
    {
        var file = Path.Combine(dataDir, "admin.token");
        return File.Exists(file) ? File.ReadAllText(file).Trim() : null;
    }

    /// <summary>The node takes a label of printable ASCII up to 64 characters; anything else in a user or host name becomes '?'.</summary>
    private static string ClientLabel(string label)
    {
        var safe = new string(label.Select(c => c is >= ' ' and <= '~' ? c : '?').ToArray());
        return safe.Length <= 64 ? safe : safe[..64];
    }
}
