using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using Akka.Actor;
using Akka.Cluster;
using Akka.Hosting;
using AyTrack.Core;
using AyTrack.Actors.Settings;
using AyTrack.Contracts;
using AyTrack.Core.Settings;

namespace AyTrack.Node.Admin;

/// <summary>
/// GET/POST/DELETE /api/certs: the certificates trusted for the external server beyond the system's (an extra CA,
/// or a pinned server certificate by its SHA-256 fingerprint). They are the trustedCertificates setting, changed
/// through the config actor with the version read, so two operators cannot overwrite each other's change.
/// </summary>
public static class CertificatesApi
{
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(10);

    public static void MapCertificatesApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/certs", async (IRequiredActor<ConfigActor> config) =>
        {
            var (_, certificates) = await ReadAsync(config.ActorRef);
            return Results.Ok(certificates.Select(View));
        });
        app.MapGet("/api/certs/last-refused", (AyTrack.Smtp.Delivery.RelayHealth health) => health.LastRefused is { } refused
            ? Results.Ok(new RefusedCertificateView(refused.Host, refused.Subject, refused.Issuer, refused.Sha256, refused.NotBefore, refused.NotAfter,
                refused.Problem, refused.Pem, refused.At))
            : Results.Problem("This node has refused no certificate of the external server since it started.", statusCode: StatusCodes.Status404NotFound));
        app.MapPost("/api/certs", AddAsync);
        app.MapDelete("/api/certs/{sha256}", RemoveAsync);
    }

    private static async Task<IResult> AddAsync(TrustCertificateRequest request, IRequiredActor<ConfigActor> config, ActorSystem system, HttpContext http)
    {
        var errors = new Dictionary<string, string[]>();
        if (!EnumNames.TryParse<CertificateKind>(request.Kind ?? "Ca", out var kind))
        {
            errors["kind"] = ["must be Ca or Pinned"];
        }

        TrustedCertificate? certificate = null;
        if (request.Pem is { Length: > 0 } pem)
        {
            try
            {
                using var parsed = X509Certificate2.CreateFromPem(pem);
                certificate = new TrustedCertificate
                {
                    Kind = kind,
                    Sha256 = parsed.GetCertHashString(HashAlgorithmName.SHA256).ToLowerInvariant(),
                    Subject = parsed.Subject,
                    Pem = parsed.ExportCertificatePem(),
                };
            }
            catch (CryptographicException error)
            {
                errors["pem"] = [$"is not a PEM certificate: {error.Message}"];
            }
        }
        else if (kind == CertificateKind.Pinned && request.Sha256 is { Length: 64 } fingerprint)
        {
            certificate = new TrustedCertificate { Kind = kind, Sha256 = fingerprint.ToLowerInvariant(), Subject = string.Empty };
        }
        else
        {
            errors["pem"] = ["is required (a pinned certificate may instead give sha256, 64 hexadecimal characters)"];
        }

        if (errors.Count > 0 || certificate is null)
        {
            return Results.ValidationProblem(errors);
        }

        var (version, current) = await ReadAsync(config.ActorRef);
        var list = current.Where(c => c.Sha256 != certificate.Sha256).Append(certificate).ToList();
        var reply = await WriteAsync(config.ActorRef, list, version, http, system);
        return reply switch
        {
            ConfigReplies.Changed => Results.Created($"/api/certs/{certificate.Sha256}", View(certificate)),
            ConfigReplies.Rejected rejected => Results.ValidationProblem(rejected.Errors),
            _ => Results.Problem("The settings changed meanwhile; try again.", statusCode: StatusCodes.Status409Conflict),
        };
    }

    private static async Task<IResult> RemoveAsync(string sha256, IRequiredActor<ConfigActor> config, ActorSystem system, HttpContext http)
    {
        var (version, current) = await ReadAsync(config.ActorRef);
        var remaining = current.Where(c => !c.Sha256.Equals(sha256, StringComparison.OrdinalIgnoreCase)).ToList();
        if (remaining.Count == current.Count)
        {
            return Results.Problem($"No trusted certificate has the fingerprint {sha256}.", statusCode: StatusCodes.Status404NotFound);
        }

        return await WriteAsync(config.ActorRef, remaining, version, http, system) is ConfigReplies.Changed
            ? Results.NoContent()
            : Results.Problem("The settings changed meanwhile; try again.", statusCode: StatusCodes.Status409Conflict);
    }

    private static async Task<(long Version, IReadOnlyList<TrustedCertificate> Certificates)> ReadAsync(IActorRef config)
    {
        var current = await config.Ask<ConfigReplies.CurrentSettings>(new ConfigCommands.GetSettings(), AskTimeout);
        return (current.Version, SettingsDocument.FromJson(current.Document).TrustedCertificates);
    }

    private static Task<object> WriteAsync(IActorRef config, IReadOnlyList<TrustedCertificate> certificates, long version, HttpContext http, ActorSystem system)
    {
        var patch = new JsonObject { ["trustedCertificates"] = SettingsDocument.CertificatesJson(certificates) }.ToJsonString();
        return config.Ask<object>(new ConfigCommands.ChangeSettings(patch, version, AdminAuthentication.Caller(http),
            Cluster.Get(system).SelfAddress.ToString()), AskTimeout);
    }

    private static TrustedCertificateView View(TrustedCertificate certificate)
    {
        DateTimeOffset? notAfter = null;
        string? issuer = null;
        if (certificate.Pem.Length > 0)
        {
            using var parsed = X509Certificate2.CreateFromPem(certificate.Pem);
            notAfter = parsed.NotAfter.ToUniversalTime();
            issuer = parsed.Issuer;
        }

        return new TrustedCertificateView(certificate.Kind.ToString(), certificate.Sha256, certificate.Subject, notAfter) { Issuer = issuer };
    }
}
