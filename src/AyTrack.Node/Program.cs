using AyTrack.Node;

var app = AyTrack.Node.NodeHost.Build(args);
await app.StartAsync();

var info = app.Services.GetRequiredService<NodeInfo>();
var token = app.Services.GetRequiredService<AyTrack.Node.Admin.AdminToken>();
var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("AyTrack");
logger.LogInformation("AyTrack is running. SMTP: {Smtp}  Admin: {Admin}  Data: {DataDir}  Admin token: {Token}",
    info.SmtpEndpoint, string.Join(", ", app.Urls), info.DataDir, token.FilePath ?? "from AyTrack:Admin:Token");

await app.WaitForShutdownAsync();
