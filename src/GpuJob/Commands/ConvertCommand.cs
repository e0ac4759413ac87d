using GuidedNet.GpuJob.Cli;
using GuidedNet.Imaging;
using GuidedNet.Imaging.Geometry;
using GuidedNet.Imaging.Nifti;
using GuidedNet.Imaging.Numpy;
using GuidedNet.Imaging.Preprocessing;
using GuidedNet.Models;

namespace GuidedNet.GpuJob.Commands;

/// <summary>
/// <c>guidednet convert</c>: a scan to NIfTI — a DICOM series (folder, zip or file) in its own
/// geometry, or a NumPy volume in (z, y, x) order (how the authors' preprocessing stores prepared
/// scans) with a given spacing — so it can go through predict/evaluate or other tools; and the
/// authors' network (a PyTorch state dict) to a GuidedNet model file, the one format the
/// pipeline's worker loads.
/// </summary>
public static class ConvertCommand
{
    public static readonly CommandSpec Spec = new("""
        guidednet convert --input SCAN --output FILE.nii.gz [--series UID] [--spacing D,H,W] [--labels]
        guidednet convert --model NET.pth --output MODEL.guidednet [--preset P] [--patch D,H,W]
        """,
    [
        new("input", "SCAN", "a DICOM series (a folder, a .zip or one file), a NIfTI file, or a 3D .npy array in (z, y, x) C order (float32/float64/int64/int32/uint8)"),
        new("model", "NET.pth", "instead of --input: the authors' network as a PyTorch state dict (e.g. unet_gmm_k14.pth), converted to the GuidedNet model file the pipeline's worker serves"),
        new("output", "FILE", "the NIfTI file to write (the series' own geometry, RAS; int16 when every value is an integer in its range, else float32; a .npy array gets RAS axes and origin 0), or the model file"),
        new("series", "UID", "of a DICOM input holding several series, the one to convert", DefaultText: "the largest"),
        new("spacing", "D,H,W", ".npy only: voxel spacing in mm, z,y,x (the array's axis order)", Default: "1,1,1"),
        new("labels", null, "write uint8 labels"),
        new("preset", "P", "--model: the preprocessing plan stored with it, flare22 | amos | none", Default: "none"),
        new("patch", "D,H,W", "--model: the prediction window stored with it, z,y,x voxels", Default: "64,128,128"),
    ]);

    public static int Run(CommandLineArguments args, TextWriter output)
    {
        if (args.Has("model")) return ConvertModel(args, output);
        string input = args.Required("input");
        string outPath = args.Required("output");
        double[] spacing = args.DoubleTriple("spacing")!;
        bool labels = args.Flag("labels");
        string? series = args.String("series");
        args.EnsureAllUsed();

        if (!input.EndsWith(".npy", StringComparison.OrdinalIgnoreCase))
        {
            if (args.Has("spacing")) throw new UsageException("--spacing is for .npy arrays; a scan brings its own geometry");
            var scan = ScanReader.Read(input, series, output.WriteLine);
            var type = labels ? NiftiDataType.UInt8
                : scan.Voxels.All(v => v == MathF.Round(v) && v >= short.MinValue && v <= short.MaxValue) ? NiftiDataType.Int16 : NiftiDataType.Float32;
            NiftiWriter.Write(outPath, scan, type);
            output.WriteLine($"{input} -> {outPath}: {scan}, {type}");
            return 0;
        }
        if (series is not null) throw new UsageException("--series is for DICOM inputs");
        var array = Npy.Read(input);
        if (array.Shape.Length != 3) throw new UsageException($"{input}: a {array.Shape.Length}D array; convert takes 3D (z, y, x) arrays");
        var volume = new Volume((int)array.Shape[2], (int)array.Shape[1], (int)array.Shape[0], array.AsFloat(),
            Affine.Scaling(spacing[2], spacing[1], spacing[0]));
        NiftiWriter.Write(outPath, volume, labels ? NiftiDataType.UInt8 : NiftiDataType.Float32);
        output.WriteLine($"{input} ({string.Join("x", array.Shape)} z,y,x) -> {outPath}: {volume}");
        return 0;
    }

    private static int ConvertModel(CommandLineArguments args, TextWriter output)
    {
        string modelPath = args.Required("model");
        string outPath = args.Required("output");
        string? preset = args.String("preset");
        int[]? patch = args.Triple("patch");
        args.EnsureAllUsed();
        using var model = ModelFile.Load(modelPath, TorchSharp.torch.CPU, preset is null ? null : PreprocessingPlan.FromName(preset).Name);
        var metadata = patch is null ? model.Metadata : model.Metadata with { Patch = patch };
        metadata.Validate(outPath);
        ModelFile.Save(outPath, metadata, model.Networks.ToArray());
        output.WriteLine($"{modelPath} -> {outPath}: width {metadata.BaseChannels}, {metadata.NumClasses} classes, plan '{metadata.Preset}', patch {string.Join("x", metadata.Patch)}");
        return 0;
    }
}
