using System.Reflection;

namespace AyTrack.Node.Admin;

/// <summary>
/// The settings and status page: static HTML, CSS and JavaScript embedded in the node (no build step, no CDN), served
/// without a token because they hold no data; every figure on the page comes from /api with the bearer token the
/// operator signs in with. The Content-Security-Policy allows only these files and calls to this origin, and no form
/// submission at all, so the token typed into the page can never leave in a URL even if the script did not load.
/// </summary>
public static class PageEndpoints
{
    private const string Policy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
                                  "form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

    public static void MapPage(this IEndpointRouteBuilder app)
    {
        var files = new[] { ("index.html", "text/html; charset=utf-8"), ("app.js", "text/javascript; charset=utf-8"), ("app.css", "text/css; charset=utf-8") }
            .ToDictionary(f => f.Item1, f => (Bytes: Read(f.Item1), ContentType: f.Item2));
        app.MapGet("/", (HttpContext http) => Serve(http, files["index.html"]));
        app.MapGet("/page/{file}", (string file, HttpContext http) => files.TryGetValue(file, out var found) ? Serve(http, found) : Results.NotFound());
    }

    private static IResult Serve(HttpContext http, (byte[] Bytes, string ContentType) file)
    {
        var headers = http.Response.Headers;
        headers.ContentSecurityPolicy = Policy;
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "no-referrer";
        headers.CacheControl = "no-cache";
        return Results.Bytes(file.Bytes, file.ContentType);
    }

    private static byte[] Read(string name)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("AyTrack.Page." + name)
                           ?? throw new InvalidOperationException($"The page file {name} is not embedded in the node");
        using var memory = new MemoryStream();
        stream.CopyTo(memory);
        return memory.ToArray();
    }
}
