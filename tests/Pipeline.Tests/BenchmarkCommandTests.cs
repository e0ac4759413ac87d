using System.Globalization;
using GuidedNet.Pipeline.Tests.Infrastructure;

namespace GuidedNet.Pipeline.Tests;

/// <summary>
/// The benchmark commands run end to end, each measuring in its own child process, at sizes small
/// enough for a test. (Their figures are recorded in docs/performance.md; here only that each
/// command completes and reports a row of plausible numbers.)
/// </summary>
public sealed class BenchmarkCommandTests
{
    private static string[] Row(ChildProcess bench, string first)
    {
        Assert.True(bench.WaitForExit(TimeSpan.FromMinutes(3)) == 0, bench.Output);
        return bench.Output.Split('\n').Single(l => l.StartsWith($"| {first} |", StringComparison.Ordinal)).Split('|', StringSplitOptions.TrimEntries);
    }

    private static double Number(string cell) => double.Parse(cell, CultureInfo.InvariantCulture);

    // Found on a GPU run: the training options the benchmark builds had fallen out of the bounds
    // that TrainingOptions.Validate enforces, so every `bench train` child failed before its first step.
    [Fact]
    public void Bench_train_measures_a_step_in_a_child_process()
    {
        using var bench = new ChildProcess(Processes.GuidedNet, ["bench", "train", "--settings", "small", "--steps", "1", "--mode", "supervised",
            "--classes", "3", "--base-channels", "2", "--device", "cpu", "--allocator", "glibc"], new Dictionary<string, string>());
        var row = Row(bench, "small");
        Assert.StartsWith("cpu", row[2]);
        Assert.Equal("glibc", row[3]);
        Assert.InRange(Number(row[4]), 1e-4, 120);
        Assert.InRange(Number(row[5]), 1e-5, 60);
        Assert.InRange(Number(row[6]), 0.05, 8);
    }

    [Fact]
    public void Bench_data_trains_on_cached_cases_of_each_pool_size_in_a_child_process()
    {
        using var bench = new ChildProcess(Processes.GuidedNet, ["bench", "data", "--cases", "1,3", "--size", "12,24,20", "--labeled", "1",
            "--steps", "2", "--patch", "16,16,16", "--batch", "2", "--base-channels", "2", "--device", "cpu", "--no-onednn"], new Dictionary<string, string>());
        Assert.True(bench.WaitForExit(TimeSpan.FromMinutes(3)) == 0, bench.Output);
        var rows = bench.Output.Split('\n').Where(l => l.StartsWith("| cached |", StringComparison.Ordinal))
            .Select(l => l.Split('|', StringSplitOptions.TrimEntries)).ToList();
        Assert.Equal(new[] { "1", "3" }, rows.Select(r => r[2]));
        Assert.All(rows, r =>
        {
            Assert.StartsWith("cpu", r[3]);
            Assert.InRange(Number(r[4]), 1e-5, 60);
            Assert.EndsWith("%", r[5]);
            Assert.InRange(Number(r[6]), 0.05, 8);
            Assert.Equal("1", r[8]); // without oneDNN no step is recomputed
        });
    }

    [Fact]
    public void Bench_predict_measures_the_sliding_window_in_a_child_process()
    {
        using var bench = new ChildProcess(Processes.GuidedNet, ["bench", "predict", "--modes", "raw", "--size", "16,32,32", "--patch", "16,32,32",
            "--stride", "8,16,16", "--classes", "3", "--base-channels", "2", "--device", "cpu"], new Dictionary<string, string>());
        var row = Row(bench, "raw");
        Assert.StartsWith("cpu", row[2]);
        Assert.Equal(1, int.Parse(row[3], CultureInfo.InvariantCulture));
        Assert.True(Number(row[5]) > 0, bench.Output);
        Assert.InRange(Number(row[7]), 0.05, 8);
    }
}
