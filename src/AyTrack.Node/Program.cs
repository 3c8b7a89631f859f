using AyTrack.Node;

DataDirectory.RestrictNewFiles();
var app = AyTrack.Node.NodeHost.Build(args);
await app.StartAsync();

var info = app.Services.GetRequiredService<NodeInfo>();
var token = app.Services.GetRequiredService<AyTrack.Node.Admin.AdminToken>();
var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("AyTrack");
logger.LogInformation("AyTrack is running. SMTP: {Smtp}  Admin: {Admin}  Data: {DataDir}  Admin token: {Token}",
    info.SmtpEndpoint, string.Join(", ", app.Urls), info.DataDir, token.FilePath ?? "from AyTrack:Admin:Token");

// Where this node listens, for tools and tests that start it with port 0: written once everything is bound.
var nodeFile = Path.Combine(info.DataDir, "node.json");
await File.WriteAllTextAsync(nodeFile + ".tmp", System.Text.Json.JsonSerializer.Serialize(new
{
    pid = Environment.ProcessId,
    smtp = info.SmtpEndpoint?.ToString(),
    submission = info.SubmissionEndpoint?.ToString(),
    submissionTls = info.SubmissionTlsEndpoint?.ToString(),
    admin = app.Urls.First(),
}));
File.Move(nodeFile + ".tmp", nodeFile, overwrite: true);

await app.WaitForShutdownAsync();

// Akka.Remote stops the actor system when a TLS handshake this node started fails; the host then ends normally. Exit
// with Akka's code for it (79), so a service manager restarts the node (systemd Restart=on-failure, Kubernetes).
var shutdownReason = Akka.Actor.CoordinatedShutdown.Get(app.Services.GetRequiredService<Akka.Actor.ActorSystem>()).ShutdownReason;

// Disposing the services closes the spool cleanly (its WAL folded into spool.db).
await app.DisposeAsync();
if (AyTrack.Node.Remoting.ClusterTls.IsHandshakeStop(shutdownReason))
{
    logger.LogCritical("AyTrack stopped: a cluster TLS handshake failed (see above); exit code 79");
    return 79;
}

logger.LogInformation("AyTrack stopped");
return 0;
