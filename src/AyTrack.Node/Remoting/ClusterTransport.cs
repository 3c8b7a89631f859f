namespace AyTrack.Node.Remoting;

/// <summary>How the cluster port is protected on this node: mutual TLS, or (only by AyTrack:Cluster:Tls:Enabled=false) nothing.</summary>
public sealed record ClusterTransport(ClusterTls? Tls)
{
    public bool Plaintext => Tls is null;
}

/// <summary>Says at every start how the cluster port is protected; a plaintext cluster port is a warning each time.</summary>
public sealed class ClusterTransportReport(ClusterTransport transport, ILogger<ClusterTransportReport> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (transport.Tls is { } tls)
        {
            logger.LogInformation("Cluster port: mutual TLS with {Certificate} (sha256 {Thumbprint}, from {Source}); {Rule}",
                tls.Certificate.Subject, AyTrack.Contracts.Cluster.ClusterCertificates.Sha256(tls.Certificate), tls.CertificateSource, tls.Trust.Describe());
        }
        else
        {
            logger.LogWarning("Cluster port in PLAIN TEXT (AyTrack:Cluster:Tls:Enabled=false): anyone who can reach it can join the " +
                              "cluster, read and change the settings and see the relay login. Turn TLS back on (docs/security.md).");
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
