using System.Globalization;
using System.Net;

namespace AyTrack.Node.Admin;

/// <summary>
/// The gate in front of /api and /metrics: a valid bearer token (for /metrics the admin token or the read-only metrics
/// token), no lockout for the client's address (<see cref="AdminAuthGuard"/>), and a well-formed client label. What
/// authenticated the request is kept for the audit trail.
/// </summary>
public static class AdminAuthentication
{
    public const string ClientHeader = "X-AyTrack-Client";
    public const int MaxClientLabel = 64;
    private const string TokenItem = "aytrack.token";

    public static IApplicationBuilder UseAdminAuthentication(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        var metrics = context.Request.Path.Equals("/metrics", StringComparison.Ordinal);
        if (!metrics && !context.Request.Path.StartsWithSegments("/api"))
        {
            await next();
            return;
        }

        var services = context.RequestServices;
        var guard = services.GetRequiredService<AdminAuthGuard>();
        var address = context.Connection.RemoteIpAddress ?? IPAddress.None;
        if (guard.IsBlocked(address, out var retryAfter))
        {
            context.Response.StatusCode = StatusCodes.Status429TooManyRequests;
            context.Response.Headers.RetryAfter = Math.Ceiling(retryAfter.TotalSeconds).ToString(CultureInfo.InvariantCulture);
            await context.Response.WriteAsJsonAsync(new { title = "Too many failed authentications from this address; try again later", status = 429 });
            return;
        }

        var authorization = context.Request.Headers.Authorization.ToString();
        var accepted = services.GetRequiredService<AdminToken>().Accepts(authorization)
                       || metrics && services.GetRequiredService<MetricsToken>().Token.Accepts(authorization);
        if (!accepted)
        {
            if (guard.Failed(address) is var count and > 0)
            {
                services.GetRequiredService<ILoggerFactory>().CreateLogger("AyTrack.Admin")
                    .LogWarning("Admin API: {Count} request(s) without a valid token from {Address}", count, address);
            }

            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            context.Response.Headers.WWWAuthenticate = "Bearer";
            await context.Response.WriteAsJsonAsync(new
            {
                title = metrics ? "A bearer token is required (<DataDir>/metrics.token or admin.token)" : "A bearer token is required (see <DataDir>/admin.token)",
                status = 401,
            });
            return;
        }

        var label = context.Request.Headers[ClientHeader].ToString();
        if (!IsValidLabel(label))
        {
            await Results.ValidationProblem(new Dictionary<string, string[]>
            {
                [ClientHeader] = [$"must be printable ASCII, at most {MaxClientLabel} characters"],
            }).ExecuteAsync(context);
            return;
        }

        context.Items[TokenItem] = AdminToken.Name;
        await next();
    });

    /// <summary>
    /// Who made a change, for the audit trail: the token that authenticated it, the client address, and the label the
    /// client claims (shown as claimed: it proves nothing).
    /// </summary>
    public static string Caller(HttpContext http)
    {
        var token = http.Items[TokenItem] as string ?? "none";
        var label = http.Request.Headers[ClientHeader].ToString();
        return label.Length > 0
            ? $"{label} from {http.Connection.RemoteIpAddress} (token {token})"
            : $"api from {http.Connection.RemoteIpAddress} (token {token})";
    }

    private static bool IsValidLabel(string label) => label.Length <= MaxClientLabel && label.All(c => c is >= ' ' and <= '~');
}
