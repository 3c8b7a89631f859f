using Microsoft.AspNetCore.Http.Features;
using AyTrack.Core.Configuration;
using AyTrack.Core.Settings;

namespace AyTrack.Node.Admin;

/// <summary>
/// Bounds every admin-API body before anything buffers it: <c>POST /api/messages</c> at
/// AyTrack:Listener:MaxMessageSize, everything else at 1 MiB (413 beyond). A JSON body is read once here and refused
/// with 400 when an object repeats a key.
/// </summary>
public static class RequestLimits
{
    public const long MaxJsonBody = 1024 * 1024;

    public static IApplicationBuilder UseRequestLimits(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        var request = context.Request;
        if (!request.Path.StartsWithSegments("/api"))
        {
            await next();
            return;
        }

        var limit = request.Path.StartsWithSegments("/api/messages") && HttpMethods.IsPost(request.Method) && request.Path.Value!.TrimEnd('/') == "/api/messages"
            ? context.RequestServices.GetRequiredService<AyTrackOptions>().Listener.MaxMessageSize
            : MaxJsonBody;
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } sizeFeature)
        {
            sizeFeature.MaxRequestBodySize = limit;
        }

        if (request.ContentLength > limit)
        {
            await TooLarge(context, limit);
            return;
        }

        var mediaType = request.ContentType?.Split(';')[0].Trim();
        if (mediaType is not null && (mediaType.EndsWith("/json", StringComparison.OrdinalIgnoreCase) || mediaType.EndsWith("+json", StringComparison.OrdinalIgnoreCase)))
        {
            request.EnableBuffering(bufferThreshold: 64 * 1024, bufferLimit: limit);
            using var body = new MemoryStream();
            try
            {
                await request.Body.CopyToAsync(body, context.RequestAborted);
            }
            catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
            {
                await TooLarge(context, limit);
                return;
            }

            if (JsonDuplicateKeys.Find(body.GetBuffer().AsSpan(0, (int)body.Length)) is { } duplicate)
            {
                await Results.ValidationProblem(new Dictionary<string, string[]> { [duplicate] = ["appears more than once in the same object"] })
                    .ExecuteAsync(context);
                return;
            }

            request.Body.Position = 0;
        }

        await next();
    });

    private static Task TooLarge(HttpContext context, long limit) =>
        Results.Problem($"The request body is larger than {limit} bytes.", statusCode: StatusCodes.Status413PayloadTooLarge).ExecuteAsync(context);
}
