using System.Globalization;
using System.Text.Json;
using GuidedNet.Data;
using GuidedNet.GpuJob.Cli;
using GuidedNet.Imaging.Synthetic;
using GuidedNet.Runtime;
using GuidedNet.Training;
using TorchSharp;

namespace GuidedNet.GpuJob.Commands;

/// <summary>
/// <c>guidednet bench train</c>: seconds per GuidedNet training step (two networks, full loss,
/// backward, two SGD steps) and peak RSS, each setting in its own child process. The data are
/// synthetic phantoms already in the model grid; the first step (allocation, kernel selection)
/// is reported apart from the steady-state mean.
/// </summary>
public static class TrainBenchmark
{
    public static readonly CommandSpec Spec = new("guidednet bench train [options]", CommandSpec.With(
    [
        new("settings", "LIST", "comma list of small (patch 32,64,64, batch 4 = 2+2: the issue's CPU setting) and paper (64,128,128, batch 8 = 4+4)", Default: "small"),
        new("steps", "N", "timed steps after the first", Default: "4"),
        new("classes", "K", "classes including background", Default: "14"),
        new("base-channels", "C", "network width", Default: "16"),
        new("mode", "M", "guidednet | cps | supervised", Default: "guidednet"),
        new("allocator", "A", "auto (tcmalloc when installed, else glibc) | glibc | tcmalloc", Default: "auto"),
        new("precision", "LIST", "comma list of fp32, bf16, tf32 (CUDA)", Default: "fp32"),
        new("child", "SETTING", "one measurement, in this process", Hidden: true),
    ], ComputeArguments.Options));

    // The authors' code (PyTorch 1.13 CPU, 2 threads) on this machine kind, small setting, as given in the issue.
    private const double ReferenceSeconds = 7.6;
    private const double ReferencePeakGb = 6.1;

    public sealed record Result(string Setting, string Device, string Allocator, string Precision, double FirstStepSeconds, double SecondsPerStep, double PeakRssGb);

    public static int Run(CommandLineArguments args, TextWriter output)
    {
        string? child = args.String("child");
        string settings = args.String("settings")!;
        int steps = args.Int("steps");
        int classes = args.Int("classes"), width = args.Int("base-channels");
        string mode = args.String("mode")!;
        string allocator = args.String("allocator")!;
        var precisions = args.String("precision")!.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (precisions.Except(TrainingOptions.Precisions).FirstOrDefault() is { } unknown)
            throw new UsageException($"unknown --precision '{unknown}' ({string.Join(", ", TrainingOptions.Precisions)})");
        var compute = ComputeArguments.Read(args);
        args.EnsureAllUsed();
        compute.Validate();
        if (steps < 1) throw new UsageException("--steps must be at least 1");

        if (child is not null)
        {
            output.WriteLine(JsonSerializer.Serialize(Measure(child, steps, classes, width, mode, precisions[0], compute)));
            return 0;
        }
        string? tcmalloc = NativeAllocator.FindTcmalloc();
        string? preload = allocator switch
        {
            "auto" => tcmalloc,
            "glibc" => null,
            "tcmalloc" => tcmalloc ?? throw new UsageException("--allocator tcmalloc: no tcmalloc installed (Debian: apt-get install libtcmalloc-minimal4)"),
            _ => throw new UsageException($"unknown --allocator '{allocator}' (auto, glibc, tcmalloc)"),
        };
        output.WriteLine($"machine: {Environment.ProcessorCount} cores, {BenchCommand.MachineDescription()}; {mode}, {classes} classes, width {width}");
        output.WriteLine();
        output.WriteLine("| setting | device | allocator | precision | first step s | s / step | peak RSS GB | vs reference |");
        output.WriteLine("|---|---|---|---|---:|---:|---:|---|");
        foreach (string setting in settings.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        foreach (string precision in precisions)
        {
            var childArgs = new List<string> { "bench", "train", "--child", setting, "--steps", steps.ToString(CultureInfo.InvariantCulture),
                "--classes", classes.ToString(CultureInfo.InvariantCulture), "--base-channels", width.ToString(CultureInfo.InvariantCulture),
                "--mode", mode, "--precision", precision };
            childArgs.AddRange(ComputeArguments.ToArguments(compute));
            var r = BenchCommand.RunChild<Result>(childArgs, preload);
            string comparison = setting == "small" && mode == "guidednet" && classes == 14 && width == 16 && precision == "fp32"
                ? FormattableString.Invariant($"{r.SecondsPerStep / ReferenceSeconds:F2}x time, {r.PeakRssGb / ReferencePeakGb:F2}x RSS")
                : "";
            output.WriteLine(FormattableString.Invariant(
                $"| {r.Setting} | {r.Device} | {r.Allocator} | {r.Precision} | {r.FirstStepSeconds:F2} | {r.SecondsPerStep:F2} | {r.PeakRssGb:F2} | {comparison} |"));
        }
        output.WriteLine();
        output.WriteLine($"reference (authors' code, PyTorch 1.13 CPU, 2 threads, small setting): {ReferenceSeconds} s/step, {ReferencePeakGb} GB peak RSS");
        return 0;
    }

    private static Result Measure(string setting, int steps, int classes, int width, string mode, string precision, ComputeOptions compute)
    {
        var (patch, batch, labeledBatch) = setting switch
        {
            "small" => (new[] { 32, 64, 64 }, 4, 2),
            "paper" => (new[] { 64, 128, 128 }, 8, 4),
            _ => throw new UsageException($"unknown setting '{setting}' (small, paper)"),
        };
        var trainingMode = mode switch
        {
            "guidednet" => TrainingMode.GuidedNet,
            "cps" => TrainingMode.Cps,
            "supervised" => TrainingMode.Supervised,
            _ => throw new UsageException($"unknown mode '{mode}'"),
        };
        if (trainingMode == TrainingMode.Supervised) batch = labeledBatch;
        var device = TorchRuntime.Configure(compute);
        // Phantoms a little larger than the patch, in the model grid already.
        var generator = new PhantomGenerator(new PhantomOptions { Classes = Math.Min(classes, 14), Size = (patch[2] + 8, patch[1] + 8, patch[0] + 4) });
        TrainingCase Case(int seed)
        {
            var (image, label) = generator.Generate(seed);
            var normalized = image.Voxels.Select(v => (v - 40f) / 100f).ToArray();
            return new TrainingCase($"p{seed}", image.SizeZ, image.SizeY, image.SizeX, normalized, label.Voxels.Select(v => (byte)v).ToArray());
        }
        var labeled = Enumerable.Range(0, 2).Select(Case).ToList();
        var unlabeled = Enumerable.Range(2, 2).Select(s => Case(s).WithoutLabels()).ToList();
        var data = TrainingData.FromCases(classes, labeled, unlabeled, Array.Empty<TrainingCase>());
        var options = new TrainingOptions
        {
            Mode = trainingMode, Iterations = steps + 1, Patch = patch, BatchSize = batch, LabeledBatchSize = labeledBatch,
            BaseChannels = width, ValidationFraction = 0, CheckpointEvery = TrainingLimits.MaxInterval, ValidateEvery = TrainingLimits.MaxInterval,
            Precision = precision,
        };
        var history = TrainThrowaway(options, data, device);
        return new Result(setting, TorchRuntime.Describe(device), NativeAllocator.Active, precision, history.Iterations[0].Seconds, SecondsPerStep(history),
            BenchCommand.PeakRssBytes() / 1e9);
    }

    /// <summary>Trains in a folder of its own, removed afterwards (nothing of a benchmark's run is kept); the run's history.</summary>
    internal static TrainingHistory TrainThrowaway(TrainingOptions options, TrainingData data, torch.Device device)
    {
        string folder = Path.Combine(Path.GetTempPath(), "guidednet-bench-" + Guid.NewGuid().ToString("N"));
        try
        {
            using var trainer = new Trainer(options, data, device, folder, new Dictionary<int, string>());
            trainer.Run(resume: false);
            return trainer.History;
        }
        finally
        {
            try { Directory.Delete(folder, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>Mean seconds of the steps after the first (the first allocates and selects kernels); iteration times are cumulative.</summary>
    internal static double SecondsPerStep(TrainingHistory history) =>
        (history.Iterations[^1].Seconds - history.Iterations[0].Seconds) / (history.Iterations.Count - 1);
}
