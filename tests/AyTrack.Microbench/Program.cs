// Microbenchmarks of AyTrack's hot paths (docs/performance.md):
//   dotnet run -c Release --project tests/AyTrack.Microbench -- --filter '*'
// Short runs: add --job short. Results land in BenchmarkDotNet.Artifacts/.
using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(AyTrack.Microbench.SerializationBenchmarks).Assembly).Run(args);
