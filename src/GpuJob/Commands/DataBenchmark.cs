using System.Globalization;
using System.Text.Json;
using GuidedNet.Data;
using GuidedNet.GpuJob.Cli;
using GuidedNet.Imaging.Geometry;
using GuidedNet.Imaging.Nifti;
using GuidedNet.Runtime;
using GuidedNet.Training;

namespace GuidedNet.GpuJob.Commands;

/// <summary>
/// <c>guidednet bench data</c>: whether training's memory depends on the size of the unlabeled
/// pool. Preprocessed cases are written once in the cache's form; each pool size then trains a
/// few GuidedNet steps in its own child process (the product recipe: nnU-Net augmentation,
/// foreground oversampling), reporting peak RSS, seconds per step and the time the step waited
/// for the loader thread.
/// </summary>
public static class DataBenchmark
{
    public static readonly CommandSpec Spec = new("guidednet bench data [options]", CommandSpec.With(
    [
        new("cases", "LIST", "unlabeled pool sizes, a child process each", Default: "10,300"),
        new("size", "D,H,W", "every case, z,y,x voxels (160 slices of 256x256)", Default: "160,256,256"),
        new("labeled", "N", "labeled cases", Default: "4"),
        new("storage", "LIST", "cached (patches read from the preprocessing cache, as training does) and/or memory (every case loaded first, for comparison)", Default: "cached"),
        new("steps", "N", "training steps per child", Default: "20"),
        new("patch", "D,H,W", "training patch, z,y,x voxels", Default: "32,64,64"),
        new("batch", "B", "patches per step, half of them labeled", Default: "4"),
        new("classes", "K", "classes including background", Default: "3"),
        new("base-channels", "C", "network width", Default: "4"),
        new("work", "DIR", "where the cases are written", DefaultText: "a temporary folder, removed afterwards"),
        new("child", "STORAGE:N", "one measurement, in this process", Hidden: true),
    ], ComputeArguments.Options));

    public sealed record Result(string Storage, int Unlabeled, string Device, double SecondsPerStep, double LoaderWaitFraction, double PeakRssGb);

    public static int Run(CommandLineArguments args, TextWriter output)
    {
        string? child = args.String("child");
        var pools = args.String("cases")!.Split(',').Select(c => int.Parse(c, CultureInfo.InvariantCulture)).ToList();
        int[] size = args.Triple("size")!;
        int labeled = args.Int("labeled"), steps = args.Int("steps"), batch = args.Int("batch");
        int[] patch = args.Triple("patch")!;
        int classes = args.Int("classes"), width = args.Int("base-channels");
        var storages = args.String("storage")!.Split(',', StringSplitOptions.TrimEntries);
        string? work = args.String("work");
        var compute = ComputeArguments.Read(args);
        args.EnsureAllUsed();
        compute.Validate();
        if (pools.Any(n => n < 1) || labeled < 1 || steps < 2 || batch < 2) throw new UsageException("--cases, --labeled need at least 1, --steps and --batch at least 2");
        if (storages.Except(["cached", "memory"]).FirstOrDefault() is { } unknown) throw new UsageException($"unknown --storage '{unknown}' (cached, memory)");

        var options = new TrainingOptions
        {
            Iterations = steps, Patch = patch, BatchSize = batch, LabeledBatchSize = batch / 2, BaseChannels = width, NumClasses = classes,
            ValidationFraction = 0, CheckpointEvery = TrainingLimits.MaxInterval, ValidateEvery = TrainingLimits.MaxInterval,
        };
        options.Validate(); // before gigabytes of cases are written for settings a child would refuse
        if (child is not null)
        {
            var parts = child.Split(':');
            output.WriteLine(JsonSerializer.Serialize(Measure(parts[0], int.Parse(parts[1], CultureInfo.InvariantCulture), labeled, work!, options, compute)));
            return 0;
        }

        using var temp = work is null ? new Pipeline.Storage.TempFolder() : null;
        string folder = work ?? temp!.Root;
        var started = DateTime.UtcNow;
        long bytes = WriteCases(folder, size, labeled, pools.Max(), classes);
        output.WriteLine($"machine: {Environment.ProcessorCount} cores, {BenchCommand.MachineDescription()}");
        output.WriteLine($"cases {string.Join("x", size)} (D,H,W), {labeled} labeled + up to {pools.Max()} unlabeled: " +
                         $"{bytes / 1e9:F1} GB written in {(DateTime.UtcNow - started).TotalSeconds:F0} s; GuidedNet, patch {string.Join("x", patch)}, " +
                         $"batch {batch}, {classes} classes, width {width}, {steps} steps");
        output.WriteLine();
        output.WriteLine("| storage | unlabeled cases | device | s / step | loader wait | peak RSS GB | RSS vs first row | tries |");
        output.WriteLine("|---|---:|---|---:|---:|---:|---:|---:|");
        double? firstRss = null;
        foreach (string storage in storages)
            foreach (int pool in pools)
            {
                var childArgs = new List<string> { "bench", "data", "--child", $"{storage}:{pool}", "--work", folder, "--labeled", Invariant(labeled),
                    "--steps", Invariant(steps), "--batch", Invariant(batch), "--patch", string.Join(",", patch), "--size", string.Join(",", size),
                    "--classes", Invariant(classes), "--base-channels", Invariant(width) };
                childArgs.AddRange(ComputeArguments.ToArguments(compute));
                var (r, tries) = RunTraining(childArgs);
                firstRss ??= r.PeakRssGb;
                output.WriteLine(FormattableString.Invariant(
                    $"| {r.Storage} | {r.Unlabeled} | {r.Device} | {r.SecondsPerStep:F2} | {r.LoaderWaitFraction:P1} | {r.PeakRssGb:F2} | {r.PeakRssGb / firstRss:F2}x | {tries} |"));
            }
        return 0;
    }

    /// <summary>
    /// Runs one child; a child whose training stopped as diverged is run again (at most three
    /// times, and the table says how many): on some virtual machines oneDNN's backward returns NaN
    /// now and then (docs/performance.md, "Numerical faults"), which says nothing about memory.
    /// </summary>
    private static (Result Result, int Tries) RunTraining(List<string> childArgs)
    {
        for (int tries = 1; ; tries++)
        {
            try
            {
                return (BenchCommand.RunChild<Result>(childArgs), tries);
            }
            catch (InvalidOperationException e) when (tries < 3 && e.Message.Contains("training diverged", StringComparison.Ordinal))
            {
            }
        }
    }

    private static string Invariant(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static string ImageFile(string folder, string name) => Path.Combine(folder, name + ".nii");
    private static string LabelFile(string folder, string name) => Path.Combine(folder, name + "_seg.nii");
    private static string LabeledName(int i) => $"labeled_{i:D4}";
    private static string UnlabeledName(int i) => $"unlabeled_{i:D4}";

    /// <summary>
    /// Writes the cases as the preprocessing cache holds them (float32 image, uint8 labels), a slice
    /// at a time; cases already there from an earlier run with the same --work are kept. Returns the bytes on disk.
    /// </summary>
    private static long WriteCases(string folder, int[] size, int labeled, int unlabeled, int classes)
    {
        Directory.CreateDirectory(folder);
        int d = size[0], h = size[1], w = size[2];
        // Textured intensities and two ellipsoid "organs"; the values do not change the timing.
        float Intensity(int seed, int z, int y, int x) => ((x * 7 + y * 13 + z * 17 + seed * 31) % 200) / 100f - 1f;
        int Label(int z, int y, int x)
        {
            double a = Math.Pow((z - d / 2.0) / (d / 4.0), 2) + Math.Pow((y - h / 2.0) / (h / 5.0), 2) + Math.Pow((x - w / 3.0) / (w / 6.0), 2);
            double b = Math.Pow((z - d / 2.0) / (d / 8.0), 2) + Math.Pow((y - h / 2.0) / (h / 12.0), 2) + Math.Pow((x - 2 * w / 3.0) / (w / 12.0), 2);
            return a <= 1 ? 1 : b <= 1 ? Math.Min(2, classes - 1) : 0;
        }
        void Write(string path, NiftiDataType type, Func<int, int, int, float> value)
        {
            if (File.Exists(path)) return;
            NiftiWriter.WriteSlices(path, w, h, d, Affine.Identity, type, (z, slice) =>
            {
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < w; x++) slice[y * w + x] = value(z, y, x);
            });
        }
        for (int i = 0; i < labeled; i++)
        {
            int seed = i;
            Write(ImageFile(folder, LabeledName(i)), NiftiDataType.Float32, (z, y, x) => Intensity(seed, z, y, x) + 2 * Label(z, y, x));
            Write(LabelFile(folder, LabeledName(i)), NiftiDataType.UInt8, (z, y, x) => Label(z, y, x));
        }
        for (int i = 0; i < unlabeled; i++)
        {
            int seed = 1000 + i;
            Write(ImageFile(folder, UnlabeledName(i)), NiftiDataType.Float32, (z, y, x) => Intensity(seed, z, y, x) + 2 * Label(z, y, x));
        }
        return Directory.GetFiles(folder).Sum(f => new FileInfo(f).Length);
    }

    private static Result Measure(string storage, int unlabeledCount, int labeledCount, string folder, TrainingOptions options, ComputeOptions compute)
    {
        var device = TorchRuntime.Configure(compute);
        var labeled = Enumerable.Range(0, labeledCount)
            .Select(i => TrainingCase.Cached(LabeledName(i), ImageFile(folder, LabeledName(i)), LabelFile(folder, LabeledName(i)))).ToList();
        var unlabeled = Enumerable.Range(0, unlabeledCount).Select(i => TrainingCase.Cached(UnlabeledName(i), ImageFile(folder, UnlabeledName(i)), null)).ToList();
        if (storage == "memory")
        {
            labeled = labeled.Select(c => new TrainingCase(c.Name, c.Depth, c.Height, c.Width, c.ReadImage(), c.ReadLabels())).ToList();
            unlabeled = unlabeled.Select(c => new TrainingCase(c.Name, c.Depth, c.Height, c.Width, c.ReadImage(), null)).ToList();
        }
        var data = TrainingData.FromCases(options.NumClasses!.Value, labeled, unlabeled, Array.Empty<TrainingCase>());
        var history = TrainBenchmark.TrainThrowaway(options, data, device);
        return new Result(storage, unlabeledCount, TorchRuntime.Describe(device), TrainBenchmark.SecondsPerStep(history),
            history.LoaderWaitSeconds / history.WallSeconds, BenchCommand.PeakRssBytes() / 1e9);
    }
}
