using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using GuidedNet.Evaluation;
using GuidedNet.GpuJob.Cli;
using GuidedNet.Imaging;
using GuidedNet.Imaging.Geometry;
using GuidedNet.Imaging.Nifti;
using GuidedNet.Imaging.Synthetic;
using GuidedNet.Inference;
using GuidedNet.Models;
using GuidedNet.Network;
using GuidedNet.Runtime;

namespace GuidedNet.GpuJob.Commands;

/// <summary>
/// <c>guidednet bench predict --ct</c>: what a user waits for on a whole clinical CT. A body
/// phantom of 512×512×300 int16 voxels at 0.78×0.78×1.5 mm goes through read → preprocess →
/// windows → restore → write, once per mode (exact, each fast part, fast, with TTA), each in its
/// own child process so that its peak RSS is its own. Each mode's mask is compared with the exact
/// one (voxel agreement) and, when the model was trained on such phantoms, with the phantom's labels.
/// </summary>
public static class CtBenchmark
{
    public const string DefaultModes = "exact,bf16,body,crop,fast,bf16+crop,fast+tta";

    /// <summary>The options <c>--ct</c> adds to <c>bench predict</c>'s.</summary>
    public static readonly IReadOnlyList<OptionSpec> Options =
    [
        new("ct", null, $"a whole clinical-size CT instead (read, preprocess, windows, restore, write timed per stage, each mode in a child process); its --modes: exact, tta (exact + mirroring), or fast modes: a part (bf16, body, crop, overlap), parts joined by '+', fast (what --fast does) or all; '+tta' adds mirroring (default {DefaultModes})"),
        new("ct-size", "X,Y,Z", "--ct: the CT, x,y,z voxels at 0.78x0.78x1.5 mm, int16", Default: "512,512,300"),
        new("work", "DIR", "--ct: where the CT and masks are written", DefaultText: "a temporary folder, removed afterwards"),
        new("scan", "FILE", "the child's CT", Hidden: true),
        new("mask", "FILE", "the child's truth", Hidden: true),
    ];

    public sealed record StageSeconds(double Read, double Preprocess, double Windows, double Restore, double Write);

    /// <param name="NetworkSeconds">the networks' forward passes alone for the windows computed (<see cref="NetworkSecondsPerWindow"/>); the rest of the windows stage is softmax, weighting and stitching</param>
    public sealed record Result(string Mode, string Device, string Precision, int Windows, StageSeconds Seconds, double NetworkSeconds, double PeakRssGb);

    public static int Run(CommandLineArguments args, TextWriter output, ComputeOptions compute, string? child)
    {
        var size = args.Triple("ct-size")!;
        var modes = (args.String("modes") ?? DefaultModes).Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        string? model = args.String("model");
        string? work = args.String("work");
        string? scan = args.String("scan"), mask = args.String("mask");
        args.EnsureAllUsed();
        foreach (string m in modes) ParseMode(m);
        if (child is not null)
        {
            if (scan is null || mask is null || model is null) throw new UsageException("a --ct child needs --scan, --mask and --model");
            output.WriteLine(JsonSerializer.Serialize(Measure(child, scan, mask, model, compute)));
            return 0;
        }

        string folder = work ?? Path.Combine(Path.GetTempPath(), "bench-ct-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(folder);
        try
        {
            bool trained = model is not null;
            model ??= WriteRandomModel(Path.Combine(folder, "random.guidednet"));
            var metadata = ModelFile.ReadMetadata(model);
            int classes = Math.Min(metadata.NumClasses, PhantomOptions.MaxClasses);
            var clock = Stopwatch.StartNew();
            var (image, label) = new PhantomGenerator(new PhantomOptions
            {
                Classes = classes, Size = (size[0], size[1], size[2]), RandomOrientation = false, SpacingMm = new Vector3d(0.78, 0.78, 1.5),
            }).Generate(11);
            string scanFile = Path.Combine(folder, "ct_0000.nii.gz");
            NiftiWriter.Write(scanFile, image, NiftiDataType.Int16);
            byte[] truth = label.Voxels.Select(v => (byte)v).ToArray();
            output.WriteLine($"machine: {Environment.ProcessorCount} cores, {BenchCommand.MachineDescription()}; {DateTime.UtcNow:yyyy-MM-dd}");
            output.WriteLine($"CT {string.Join("x", size)} int16 at 0.78x0.78x1.5 mm, {classes - 1} organs, {new FileInfo(scanFile).Length / 1e6:F0} MB gzipped (made in {clock.Elapsed.TotalSeconds:F0} s); " +
                             $"model {(trained ? model : "random weights")}: width {metadata.BaseChannels}, {metadata.NumClasses} classes, patch {string.Join("x", metadata.Patch)}, plan '{metadata.Preset}'");
            output.WriteLine();
            output.WriteLine("| mode | device | network | windows | read s | preprocess s | windows s | of which network s | restore s | write s | total s | speed-up | peak RSS GB | voxel agreement with exact | mean Dice to the phantom |");
            output.WriteLine("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
            byte[]? exact = null;
            double? exactTotal = null;
            foreach (string mode in modes)
            {
                string maskFile = Path.Combine(folder, $"mask-{mode.Replace('+', '_')}.nii.gz");
                var childArgs = new List<string> { "bench", "predict", "--ct", "--child", mode, "--scan", scanFile, "--mask", maskFile, "--model", model };
                childArgs.AddRange(ComputeArguments.ToArguments(compute));
                var r = BenchCommand.RunChild<Result>(childArgs);
                byte[] labels = ScanReader.Read(maskFile).Voxels.Select(v => (byte)v).ToArray();
                if (mode == "exact") exact = labels;
                var s = r.Seconds;
                double total = s.Read + s.Preprocess + s.Windows + s.Restore + s.Write;
                if (mode == "exact") exactTotal = total;
                string agreement = exact is null ? "" : $"{Agreement(labels, exact):P3}";
                string dice = trained ? $"{DiceScore.ByClass(labels, truth, metadata.NumClasses).OfType<double>().DefaultIfEmpty(0).Average():F4}" : "";
                output.WriteLine(FormattableString.Invariant(
                    $"| {r.Mode} | {r.Device} | {r.Precision} | {r.Windows} | {s.Read:F1} | {s.Preprocess:F1} | {s.Windows:F1} | {r.NetworkSeconds:F1} | {s.Restore:F1} | {s.Write:F1} | {total:F1} | {(exactTotal is { } e ? $"{e / total:F2}x" : "")} | {r.PeakRssGb:F2} | {agreement} | {dice} |"));
            }
            if (!trained) output.WriteLine("\nrandom weights: the masks are not anatomy, so Dice is not given; agreement shows only that the modes compute the same thing");
            return 0;
        }
        finally
        {
            if (work is null) Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>A mode name: exact or a fast mode, with '+tta' for mirroring.</summary>
    private static (FastMode Fast, bool Tta) ParseMode(string mode)
    {
        bool tta = mode == "tta" || mode.EndsWith("+tta", StringComparison.Ordinal);
        string fast = mode == "tta" ? "exact" : tta ? mode[..^"+tta".Length] : mode;
        try
        {
            return (fast == "exact" ? FastMode.Exact : FastMode.Parse(fast), tta);
        }
        catch (ArgumentException e)
        {
            throw new UsageException($"--modes: '{mode}': {e.Message}");
        }
    }

    private static Result Measure(string mode, string scanFile, string maskFile, string modelPath, ComputeOptions compute)
    {
        var (asked, tta) = ParseMode(mode);
        var device = TorchRuntime.Configure(compute);
        using var model = ModelFile.Load(modelPath, device);
        var fast = asked.ForModel(model.Metadata);
        if (asked.FollowsModel) mode = $"{mode} ({fast}{(tta ? "+tta" : "")})";
        // The worker's settings: Gaussian weighting at 50% overlap, the model's patch.
        var options = fast.Apply(new SlidingWindowOptions { Patch = model.Metadata.Patch, Gaussian = true, MirrorTta = tta }, device);
        var predictor = new CasePredictor(model, device, options, model.Plan());
        var clock = Stopwatch.StartNew();
        var scan = ScanReader.Read(scanFile);
        double read = clock.Elapsed.TotalSeconds;
        var prediction = predictor.Predict(scan, scanFile);
        clock.Restart();
        NiftiWriter.Write(maskFile, prediction.Mask, NiftiDataType.UInt8);
        double write = clock.Elapsed.TotalSeconds;
        int computed = prediction.Windows - prediction.SkippedWindows;
        double peakRss = BenchCommand.PeakRssBytes() / 1e9; // the prediction's own: read before the timing below adds its network copies
        return new Result(mode, TorchRuntime.Describe(device), options.Precision.Name(), computed,
            new StageSeconds(read, prediction.Preprocessing.TotalSeconds, prediction.Model.TotalSeconds, prediction.Restoring.TotalSeconds, write),
            computed * NetworkSecondsPerWindow(model.Networks, options, device), peakRss);
    }

    /// <summary>
    /// The networks' forward passes for one window in the mode's precision (and mirrorings), the
    /// median of three after a warm-up, on a random input: what of a window's time the network
    /// takes, so that the rest (softmax, Gaussian weighting, accumulation) can be told apart.
    /// </summary>
    private static double NetworkSecondsPerWindow(IReadOnlyList<UNet3D> networks, SlidingWindowOptions options, TorchSharp.torch.Device device)
    {
        bool lowPrecision = options.Precision != InferencePrecision.Float32;
        var timed = networks.Select(n => lowPrecision ? SlidingWindowPredictor.LowPrecisionCopy(n, options.Precision, device) : n).ToList();
        try
        {
            foreach (var n in timed) n.eval();
            using var inference = TorchSharp.torch.inference_mode();
            var p = options.Patch;
            using var input = TorchSharp.torch.randn(new long[] { 1, networks[0].InChannels, p[0], p[1], p[2] }).to(device).to(options.Precision.ScalarType());
            var seconds = new List<double>();
            for (int run = 0; run < 4; run++)
            {
                var clock = Stopwatch.StartNew();
                foreach (var n in timed)
                {
                    using var scope = TorchSharp.torch.NewDisposeScope();
                    var (logits, _) = n.forward(input);
                    logits.sum().to(TorchSharp.torch.ScalarType.Float32).item<float>(); // waits for the device
                }
                if (run > 0) seconds.Add(clock.Elapsed.TotalSeconds);
            }
            seconds.Sort();
            return seconds[1] * (options.MirrorTta ? 8 : 1);
        }
        finally
        {
            if (lowPrecision) foreach (var n in timed) n.Dispose();
        }
    }

    private static double Agreement(byte[] a, byte[] b)
    {
        long same = 0;
        for (long i = 0; i < a.LongLength; i++) if (a[i] == b[i]) same++;
        return (double)same / a.LongLength;
    }

    /// <summary>The reference's network shape with random weights and the FLARE22 plan: timing needs no training.</summary>
    private static string WriteRandomModel(string path)
    {
        TorchSharp.torch.manual_seed(0);
        using var network = new UNet3D(14, 16);
        ModelFile.Save(path, new ModelMetadata { NumClasses = 14, BaseChannels = 16, Preset = "flare22", Patch = [64, 160, 160] }, network);
        return path;
    }
}
