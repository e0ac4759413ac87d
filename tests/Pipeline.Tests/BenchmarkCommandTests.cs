using System.Globalization;
using GuidedNet.Pipeline.Tests.Infrastructure;
using GuidedNet.TestSupport;

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
            "--classes", "3", "--base-channels", "2", "--device", "cpu", "--allocator", "glibc",
            // oneDNN's backward gives non-finite gradients now and then on the CI machines (docs/performance.md,
            // "Numerical faults"): a child stopped as diverged at iteration 2 in a fresh-clone run.
            "--no-onednn"], new Dictionary<string, string>());
        var row = Row(bench, "small");
        Assert.StartsWith("cpu", row[2]);
        Assert.Equal("glibc", row[3]);
        Assert.Equal("fp32", row[4]);
        Assert.InRange(Number(row[5]), 1e-4, 120);
        Assert.InRange(Number(row[6]), 1e-5, 60);
        Assert.InRange(Number(row[7]), 0.05, 8);
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

    [Fact]
    public void Bench_predict_ct_times_each_stage_of_every_mode_and_compares_each_mask_with_the_exact_one()
    {
        // 64x64x40 at 0.78x0.78x1.5 mm becomes 41x41x24 in the FLARE22 grid: one window of the random reference-shaped network.
        using var bench = new ChildProcess(Processes.GuidedNet, ["bench", "predict", "--ct", "--ct-size", "64,64,40", "--modes", "exact,fast", "--device", "cpu"],
            new Dictionary<string, string>());
        var exact = Row(bench, "exact");
        // A random-weight model has no calibration: its --fast is the baseline's parts, named in the row.
        var fast = bench.Output.Split('\n').Single(l => l.StartsWith("| fast (bf16+body) |", StringComparison.Ordinal)).Split('|', StringSplitOptions.TrimEntries);
        Assert.Contains("CT 64x64x40 int16 at 0.78x0.78x1.5 mm", bench.Output);
        Assert.Equal("fp32", exact[3]);
        Assert.Equal("1", exact[4]);
        Assert.Equal("100.000 %", exact[14]);
        foreach (var row in new[] { exact, fast })
        {
            for (int stage = 5; stage <= 11; stage++) Assert.InRange(Number(row[stage]), 0, 300); // read .. write, total
            Assert.True(Number(row[7]) > 0, bench.Output); // the windows took time
            // The network timed alone, after a warm-up, is part of the windows stage: it cannot take longer (beyond timing noise).
            Assert.InRange(Number(row[8]), 0.001, Number(row[7]) * 1.2);
            Assert.InRange(Number(row[13]), 0.05, 8);
        }
        Assert.Contains(fast[3], new[] { "bf16", "fp32" }); // bf16 where this CPU has it
        Assert.EndsWith("%", fast[14]);
    }

    [Fact]
    public void Bench_agreement_compares_each_fast_mode_with_exact_prediction_and_the_truth_per_class()
    {
        using var temp = new Storage.TempFolder();
        string dataset = temp.File("ds");
        using (var synth = new ChildProcess(Processes.GuidedNet, ["synth", "--out", dataset, "--cases", "1", "--labeled", "1", "--test", "2",
                   "--classes", "4", "--size", "40,40,16", "--seed", "3"], new Dictionary<string, string>()))
            Assert.True(synth.WaitForExit(TimeSpan.FromMinutes(1)) == 0, synth.Output);
        using var bench = new ChildProcess(Processes.GuidedNet, ["bench", "agreement", "--model", Reference.File("unet_gmm_k14.pth"), "--dataset", dataset,
            "--modes", "body,crop", "--device", "cpu"], new Dictionary<string, string>());
        var exact = Row(bench, "exact");
        Assert.Equal("100.000 %", exact[5]);
        Assert.Equal("1.0000", exact[7]);
        foreach (string mode in new[] { "body", "crop" })
        {
            var row = bench.Output.Split('\n').Single(l => l.StartsWith($"| {mode} |", StringComparison.Ordinal)).Split('|', StringSplitOptions.TrimEntries);
            Assert.InRange(Number(row[5].TrimEnd('%', ' ')), 0, 100);
            Assert.Contains(row[9], new[] { "yes", "no" });
        }
        Assert.Contains("2 test case(s)", bench.Output);
        Assert.Contains("| class | exact | body | crop |", bench.Output);
    }
}
