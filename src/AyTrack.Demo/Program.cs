using AyTrack.Demo;

return await DemoCommand.RunAsync(args, Console.Out, Console.Error);
