using System.Diagnostics;
using System.Globalization;
using GuidedNet.Data;
using GuidedNet.Evaluation;
using GuidedNet.GpuJob.Cli;
using GuidedNet.Imaging;
using GuidedNet.Inference;
using GuidedNet.Models;
using GuidedNet.Runtime;

namespace GuidedNet.GpuJob.Commands;

/// <summary>
/// <c>guidednet bench agreement</c>: how far fast mode's masks are from exact prediction's, on a
/// dataset's test cases with their true labels. Each part of <see cref="FastMode"/> and their
/// combination are run on every case; reported are the voxel agreement with the exact mask, the
/// per-class Dice to it, and each class's Dice to the truth against exact prediction's. A mode is
/// acceptable when it stays within <see cref="FastModeAgreement"/>'s bounds.
/// </summary>
public static class AgreementBenchmark
{
    public static readonly CommandSpec Spec = new("guidednet bench agreement --model M --dataset DIR [options]", CommandSpec.With(
    [
        new("model", "M", "a GuidedNet model file"),
        new("dataset", "DIR", "a dataset whose imagesTs/ and labelsTs/ hold the test cases"),
        new("modes", "LIST", "fast modes to compare with exact prediction, each a part (bf16, body, crop, overlap), parts joined by '+', 'fast' (what --fast does) or 'all'", Default: "bf16,body,crop,overlap,fast,all"),
        new("cases", "N", "the first N test cases", DefaultText: "all"),
    ], ComputeArguments.Options), "Exact = what the worker runs: Gaussian weighting, overlap 0.5, the model's patch and post-processing.");

    public static int Run(CommandLineArguments args, TextWriter output)
    {
        string modelPath = args.Required("model");
        string dataset = args.Required("dataset");
        var modes = args.String("modes")!.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(m => Parse(m)).ToList();
        int maxCases = args.Int("cases", int.MaxValue);
        var compute = ComputeArguments.Read(args);
        args.EnsureAllUsed();
        compute.Validate();
        var cases = LabelledCase.Find(dataset, "test").Take(maxCases).ToList();

        var device = TorchRuntime.Configure(compute);
        using var model = ModelFile.Load(modelPath, device);
        int numClasses = model.Metadata.NumClasses;
        var exactOptions = new SlidingWindowOptions { Patch = model.Metadata.Patch, Gaussian = true };
        var runs = new[] { FastMode.Exact }.Concat(modes.Select(m => m.ForModel(model.Metadata)))
            .Select(m => new ModeRun(m, new CasePredictor(model, device, m.Apply(exactOptions, device), model.Plan()), numClasses)).ToList();

        output.WriteLine($"machine: {Environment.ProcessorCount} cores, {BenchCommand.MachineDescription()}; device {TorchRuntime.Describe(device)}");
        output.WriteLine($"model {modelPath}: {numClasses} classes, width {model.Metadata.BaseChannels}, patch {string.Join("x", model.Metadata.Patch)}; " +
                         $"{cases.Count} test case(s) of {dataset}");
        foreach (var c in cases)
        {
            string name = c.Name, scanFile = c.Scan;
            var truth = c.Truth(numClasses);
            var scan = ScanReader.Read(scanFile);
            byte[]? exact = null;
            foreach (var run in runs)
            {
                var clock = Stopwatch.StartNew();
                var prediction = run.Predictor.Predict(scan, scanFile);
                run.Seconds += clock.Elapsed.TotalSeconds;
                run.Windows += prediction.Windows - prediction.SkippedWindows;
                var mask = LabelledCase.ToBytes(LabelMap.ToLabels(prediction.Mask.Voxels, scanFile), scanFile, numClasses);
                exact ??= mask;
                run.Agreement.Add(mask, exact, truth);
            }
            output.WriteLine($"{name}: {scan.SizeX}x{scan.SizeY}x{scan.SizeZ}; " + string.Join(", ", runs.Skip(1).Select(r => $"{Name(r.Mode)}: agreement {r.Agreement.LastAgreement:P3}")));
        }

        var exactRun = runs[0];
        output.WriteLine();
        output.WriteLine("| mode | windows | seconds | speed-up | voxel agreement | foreground agreement | lowest class Dice to exact | largest Dice change to truth | acceptable |");
        output.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---|");
        foreach (var run in runs)
        {
            var a = run.Agreement;
            string change = FastModeAgreement.Describe(a.LargestDiceChange(exactRun.Agreement));
            bool ok = a.WithinBounds(exactRun.Agreement);
            output.WriteLine(FormattableString.Invariant(
                $"| {Name(run.Mode)} | {run.Windows} | {run.Seconds:F1} | {exactRun.Seconds / run.Seconds:F2}x | {a.VoxelAgreement:P3} | {a.ForegroundAgreement:P2} | {a.LowestDiceToExact:F4} | {change} | {(run.Mode.IsExact && !run.Mode.FollowsModel ? "" : ok ? "yes" : "no")} |"));
        }
        output.WriteLine();
        output.WriteLine("Dice to the truth per class (mean over the test cases holding it):");
        output.WriteLine();
        output.WriteLine("| class | " + string.Join(" | ", runs.Select(r => Name(r.Mode))) + " |");
        output.WriteLine("|---|" + string.Concat(runs.Select(_ => "---:|")));
        for (int k = 1; k < numClasses; k++)
        {
            if (exactRun.Agreement.MeanDiceToTruth(k) is null) continue;
            output.WriteLine($"| {model.Metadata.Labels().NameOf(k)} | " +
                             string.Join(" | ", runs.Select(r => r.Agreement.MeanDiceToTruth(k)?.ToString("F4", CultureInfo.InvariantCulture) ?? "")) + " |");
        }
        output.WriteLine();
        output.WriteLine(FormattableString.Invariant($"acceptable: voxel agreement ≥ {FastModeAgreement.MinVoxelAgreement:P1} and every class's Dice to the truth within {FastModeAgreement.MaxDiceChange} of exact prediction's"));
        return 0;
    }

    /// <summary>A mode's row name; <c>fast</c> shows the parts the model chose.</summary>
    private static string Name(FastMode mode) => mode.FollowsModel ? $"fast ({mode})" : mode.ToString();

    private static FastMode Parse(string mode)
    {
        try
        {
            return FastMode.Parse(mode);
        }
        catch (ArgumentException e)
        {
            throw new UsageException("--modes: " + e.Message);
        }
    }

    /// <summary>One mode's predictions over the test cases, compared as they come.</summary>
    private sealed class ModeRun(FastMode mode, CasePredictor predictor, int numClasses)
    {
        public FastMode Mode { get; } = mode;
        public CasePredictor Predictor { get; } = predictor;
        public FastModeAgreement Agreement { get; } = new(numClasses);
        public double Seconds { get; set; }
        public long Windows { get; set; }
    }
}
