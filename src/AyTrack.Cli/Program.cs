using AyTrack.Cli;

return await AyTrackCli.RunAsync(args, Console.Out, Console.Error);
