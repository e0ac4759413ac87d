using System.Diagnostics;
using GuidedNet.GpuJob.Cli;
using GuidedNet.Imaging.Nifti;
using GuidedNet.Imaging.Preprocessing;
using GuidedNet.Imaging.Rendering;
using GuidedNet.Inference;
using GuidedNet.Models;
using GuidedNet.Runtime;

namespace GuidedNet.GpuJob.Commands;

/// <summary><c>guidednet predict</c>: NIfTI scans in, uint8 masks in each scan's own geometry out.</summary>
public static class PredictCommand
{
    public static readonly IReadOnlySet<string> Flags = new HashSet<string>(ComputeArguments.Flags) { "gaussian", "tta", "raw", "preview" };

    public const string Usage = """
        guidednet predict --model M --input FILE|DIR --output DIR [options]
          --model M            PyTorch state dict of the authors' network (.pth) or a GuidedNet model file
          --input FILE|DIR     a NIfTI scan or a folder of them (<case>_0000.nii.gz or <case>.nii.gz)
          --output DIR         where <case>.nii.gz masks are written
          --patch D,H,W        window size (default: the model's training patch)
          --stride D,H,W       window step; or --overlap F (default 0.5)
          --gaussian           Gaussian weighting of overlapping windows (nnU-Net)
          --tta                average over the 8 mirrorings of each window
          --batch-windows N    windows per forward pass (default 1)
          --preset P           flare22 | amos | none (default: the model's)
          --raw                the reference's behaviour: the stored array straight to the network,
                               uniform averaging, no TTA
          --preview            also write <case>.png: three mid-slices with the mask overlaid
        """ + "\n" + ComputeArguments.Usage;

    public static int Run(CommandLineArguments args, TextWriter output, TextWriter error)
    {
        string modelPath = args.Required("model");
        string input = args.Required("input");
        string outputDir = args.Required("output");
        var compute = ComputeArguments.Read(args);
        bool raw = args.Flag("raw");
        bool gaussian = args.Flag("gaussian"), tta = args.Flag("tta"), preview = args.Flag("preview");
        if (raw && (gaussian || tta)) throw new UsageException("--raw is the reference's uniform averaging without TTA: drop --gaussian/--tta");
        string? preset = args.String("preset");
        if (raw && preset is not null && preset != "none") throw new UsageException("--raw takes the stored array as is: it cannot be combined with --preset");
        int[]? patch = args.Triple("patch");
        int[]? stride = args.Triple("stride");
        double? overlap = args.Has("overlap") ? args.Double("overlap", 0.5) : null;
        if (stride is not null && overlap is not null) throw new UsageException("give --stride or --overlap, not both");
        int batchWindows = args.Int("batch-windows", 1);
        args.EnsureAllUsed();
        var windows = new SlidingWindowOptions
        {
            Patch = patch ?? new[] { 64, 128, 128 },
            Stride = stride,
            Overlap = overlap ?? 0.5,
            Gaussian = gaussian,
            MirrorTta = tta,
            WindowsPerBatch = batchWindows,
        };
        try
        {
            windows.Validate();
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.Message);
        }

        var files = CaseFiles.Find(input);
        var device = TorchRuntime.Configure(compute);
        using var model = ModelFile.Load(modelPath, device, raw ? "none" : preset is null ? null : PreprocessingPlan.FromName(preset).Name);
        var plan = raw ? PreprocessingPlan.Raw : model.Plan();
        if (patch is null) windows.Patch = model.Metadata.Patch;
        var predictor = new CasePredictor(model, device, windows, plan);
        output.WriteLine($"model {modelPath}: {model.Metadata.NumClasses} classes, width {model.Metadata.BaseChannels}, " +
                         $"preprocessing '{plan.Name}', device {TorchRuntime.Describe(device)}");
        output.WriteLine($"patch {string.Join("x", windows.Patch)}, stride {string.Join("x", windows.EffectiveStride())}, " +
                         $"{(gaussian ? "gaussian" : "uniform")} averaging{(tta ? ", mirror TTA" : "")}; {files.Count} scan(s)");
        Directory.CreateDirectory(outputDir);

        int failures = 0;
        foreach (string file in files)
        {
            string name = Data.MsdDataset.CaseName(file);
            var clock = Stopwatch.StartNew();
            try
            {
                var scan = NiftiReader.Read(file);
                var result = predictor.Predict(scan, file, new ConsoleProgress(output, name));
                string maskPath = Path.Combine(outputDir, name + ".nii.gz");
                NiftiWriter.Write(maskPath, result.Mask, NiftiDataType.UInt8);
                if (preview) SegmentationPreview.Write(Path.Combine(outputDir, name + ".png"), scan, result.Mask);
                output.WriteLine($"{name}: {scan} -> {maskPath} in {clock.Elapsed.TotalSeconds:F1} s " +
                                 $"(preprocess {result.Preprocessing.TotalSeconds:F1} s, model {result.Model.TotalSeconds:F1} s, " +
                                 $"{scan.VoxelCount / Math.Max(1e-9, result.Model.TotalSeconds) / 1e6:F3} Mvox/s, restore {result.Restoring.TotalSeconds:F1} s)");
            }
            catch (Exception e) when (e is NiftiFormatException or ArgumentException or IOException)
            {
                failures++;
                error.WriteLine($"error: {e.Message}");
            }
        }
        if (failures > 0) error.WriteLine($"{failures} of {files.Count} scan(s) failed");
        return failures == 0 ? 0 : 1;
    }
}
