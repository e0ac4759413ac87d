using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using GuidedNet.GpuJob.Cli;
using GuidedNet.Inference;
using GuidedNet.Models;
using GuidedNet.Network;
using GuidedNet.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace GuidedNet.GpuJob.Commands;

/// <summary>
/// <c>guidednet bench predict</c>: sliding-window throughput and peak memory. Each mode runs in
/// its own child process so that its peak RSS is its own. (<c>bench train</c>: <see cref="TrainBenchmark"/>.)
/// </summary>
public static class BenchCommand
{
    public const string DefaultModes = "raw,gaussian";

    public static readonly CommandSpec Spec = new("guidednet bench predict [options]", CommandSpec.With(CommandSpec.With(
    [
        new("modes", "LIST", $"comma list of raw, gaussian, tta, fullsize (default {DefaultModes}; with --ct, see --ct)"),
        new("size", "D,H,W", "the volume, z,y,x voxels (the reference's inference benchmark)", Default: "80,200,200"),
        new("patch", "D,H,W", "the window, z,y,x voxels", Default: "64,160,160"),
        new("stride", "D,H,W", "the step, z,y,x voxels", Default: "32,80,80"),
        new("classes", "K", "classes including background", Default: "14"),
        new("base-channels", "C", "network width", Default: "16"),
        new("model", "M", "a GuidedNet model file or the authors' .pth", DefaultText: "random weights of that shape (with --ct: of the reference's shape, width 16, 14 classes, patch 64,160,160, the FLARE22 plan)"),
        new("child", "MODE", "one measurement, in this process", Hidden: true),
    ], CtBenchmark.Options), ComputeArguments.Options), """
        Modes: raw = uniform averaging at the given strides (the reference's setting);
        gaussian = Gaussian weighting at 50% overlap; tta = raw plus 8-fold mirroring;
        fullsize = stitching memory on a 600x512x512 CT with a width-4 network and no overlap.
        """);

    // The authors' predictor (PyTorch 1.13 CPU, 2 threads) on the same machine kind, as given in the issue.
    private const double ReferenceSeconds = 35.9;
    private const double ReferencePeakGb = 2.1;

    public static int Run(CommandLineArguments args, TextWriter output)
    {
        string? child = args.String("child");
        if (args.Flag("ct"))
        {
            var ctCompute = ComputeArguments.Read(args);
            ctCompute.Validate();
            return CtBenchmark.Run(args, output, ctCompute, child);
        }
        var size = args.Triple("size")!;
        var patch = args.Triple("patch")!;
        var stride = args.Triple("stride")!;
        int classes = args.Int("classes"), width = args.Int("base-channels");
        string? model = args.String("model");
        var compute = ComputeArguments.Read(args);
        string modes = args.String("modes") ?? DefaultModes;
        args.EnsureAllUsed();
        compute.Validate();

        if (child is not null)
        {
            var r = Measure(child, size, patch, stride, classes, width, model, compute);
            output.WriteLine(JsonSerializer.Serialize(r));
            return 0;
        }

        output.WriteLine($"machine: {Environment.ProcessorCount} cores, {MachineDescription()}");
        output.WriteLine($"volume {string.Join("x", size)}, patch {string.Join("x", patch)}, stride {string.Join("x", stride)}, " +
                         $"{classes} classes, width {width}; network {UNet3D.FlopsPerVoxel(classes, width) / 1e3:F1} kFLOP/voxel/forward");
        output.WriteLine();
        output.WriteLine("| mode | device | windows | seconds | Mvox/s | GFLOP/s | peak RSS GB | vs reference |");
        output.WriteLine("|---|---|---:|---:|---:|---:|---:|---|");
        foreach (string mode in modes.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var childArgs = new List<string> { "bench", "predict", "--child", mode, "--size", string.Join(",", size), "--patch", string.Join(",", patch),
                "--stride", string.Join(",", stride), "--classes", classes.ToString(CultureInfo.InvariantCulture),
                "--base-channels", width.ToString(CultureInfo.InvariantCulture) };
            childArgs.AddRange(ComputeArguments.ToArguments(compute));
            if (model is not null) childArgs.AddRange(new[] { "--model", model });
            var r = RunChild<Result>(childArgs);
            string comparison = mode == "raw" && size.SequenceEqual(new[] { 80, 200, 200 })
                ? $"{ReferenceSeconds / r.Seconds:F2}x throughput, RSS {r.PeakRssGb / ReferencePeakGb:F2}x"
                : "";
            output.WriteLine(FormattableString.Invariant(
                $"| {mode} | {r.Device} | {r.Windows} | {r.Seconds:F1} | {r.VoxelsPerSecond / 1e6:F3} | {r.GflopPerSecond:F1} | {r.PeakRssGb:F2} | {comparison} |"));
        }
        output.WriteLine();
        output.WriteLine($"reference (authors' predictor, PyTorch 1.13 CPU, 2 threads): {ReferenceSeconds} s, 0.089 Mvox/s, {ReferencePeakGb} GB peak RSS");
        return 0;
    }

    public sealed record Result(string Mode, string Device, int Windows, double Seconds, double VoxelsPerSecond, double GflopPerSecond, double PeakRssGb);

    private static Result Measure(string mode, int[] size, int[] patch, int[] stride, int classes, int width, string? modelPath, ComputeOptions compute)
    {
        var options = new SlidingWindowOptions { Patch = patch, Stride = stride };
        switch (mode)
        {
            case "raw": break;
            case "gaussian": options.Gaussian = true; options.Stride = null; options.Overlap = 0.5; break;
            case "tta": options.MirrorTta = true; break;
            case "fullsize": size = new[] { 600, 512, 512 }; width = 4; options.Stride = patch; break;
            default: throw new UsageException($"unknown bench mode '{mode}' (raw, gaussian, tta, fullsize)");
        }
        var device = TorchRuntime.Configure(compute);
        manual_seed(0);
        UNet3D network;
        if (modelPath is not null && mode != "fullsize")
        {
            network = ModelFile.Load(modelPath, device).Network;
            classes = network.NumClasses;
            width = network.BaseChannels;
        }
        else
        {
            network = new UNet3D(classes, width);
            network.to(device);
        }
        var volume = SyntheticVolume(size);
        var predictor = new SlidingWindowPredictor(network, device, options);
        var clock = Stopwatch.StartNew();
        var result = predictor.Predict(volume, size[0], size[1], size[2]);
        double seconds = clock.Elapsed.TotalSeconds;
        double voxels = (double)size[0] * size[1] * size[2];
        double forwardVoxels = (double)result.Windows * patch[0] * patch[1] * patch[2] * (options.MirrorTta ? 8 : 1);
        return new Result(mode, TorchRuntime.Describe(device), result.Windows, seconds, voxels / seconds,
            UNet3D.FlopsPerVoxel(classes, width) * forwardVoxels / seconds / 1e9, PeakRssBytes() / 1e9);
    }

    /// <summary>A smooth CT-like test volume: blobs of different intensity over noise (values don't affect timing).</summary>
    private static float[] SyntheticVolume(int[] size)
    {
        var v = new float[(long)size[0] * size[1] * size[2]];
        Parallel.For(0, size[0], z =>
        {
            var local = new Random(z);
            for (int y = 0; y < size[1]; y++)
                for (int x = 0; x < size[2]; x++)
                    v[((long)z * size[1] + y) * size[2] + x] =
                        (float)(Math.Sin(z * 0.11) * Math.Cos(y * 0.07) + Math.Sin(x * 0.05) + 0.1 * local.NextDouble());
        });
        return v;
    }

    /// <param name="preload">a shared library for the child's LD_PRELOAD (an allocator), or null</param>
    internal static T RunChild<T>(IEnumerable<string> args, string? preload = null)
    {
        var start = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, RedirectStandardError = true };
        if (preload is not null) start.Environment["LD_PRELOAD"] = preload;
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath!) == "dotnet")
            start.ArgumentList.Add(typeof(BenchCommand).Assembly.Location);
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        string stdout = process.StandardOutput.ReadToEnd();
        string stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0) throw new InvalidOperationException($"benchmark child failed ({process.ExitCode}): {stderr}{stdout}");
        string line = stdout.Split('\n').Last(l => l.TrimStart().StartsWith('{'));
        return JsonSerializer.Deserialize<T>(line)!;
    }

    /// <summary>Peak resident set size of this process (VmHWM), in bytes.</summary>
    public static long PeakRssBytes()
    {
        foreach (string line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal)) return StatusKilobytes(line) * 1024;
        return 0;
    }

    /// <summary>The number of a /proc status line such as "VmHWM:\t  123456 kB" (a tab, then spaces only while the number is short).</summary>
    public static long StatusKilobytes(string line) =>
        long.Parse(line.Split(new[] { ' ', '\t' }, StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);

    internal static string MachineDescription()
    {
        try
        {
            string? model = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
            return model?.Split(':', 2)[1].Trim() ?? "unknown CPU";
        }
        catch (IOException)
        {
            return "unknown CPU";
        }
    }
}
