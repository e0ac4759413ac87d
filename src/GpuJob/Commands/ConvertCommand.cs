using GuidedNet.GpuJob.Cli;
using GuidedNet.Imaging;
using GuidedNet.Imaging.Geometry;
using GuidedNet.Imaging.Nifti;
using GuidedNet.Imaging.Numpy;

namespace GuidedNet.GpuJob.Commands;

/// <summary>
/// <c>guidednet convert</c>: a NumPy volume in (z, y, x) order — how the authors' preprocessing
/// stores prepared scans — to NIfTI with a given spacing, so it can go through predict/evaluate.
/// </summary>
public static class ConvertCommand
{
    public static readonly IReadOnlySet<string> Flags = new HashSet<string> { "labels" };

    public const string Usage = """
        guidednet convert --input ARRAY.npy --output FILE.nii.gz [--spacing D,H,W] [--labels]
          --input     3D .npy array in (z, y, x) C order (float32/float64/int64/int32/uint8)
          --output    NIfTI file to write (RAS axes, origin 0)
          --spacing   voxel spacing in mm as D,H,W = z,y,x (default 1,1,1)
          --labels    write uint8 labels instead of float32 intensities
        """;

    public static int Run(CommandLineArguments args, TextWriter output)
    {
        string input = args.Required("input");
        string outPath = args.Required("output");
        double[] spacing = args.DoubleTriple("spacing") ?? new[] { 1.0, 1.0, 1.0 };
        bool labels = args.Flag("labels");
        args.EnsureAllUsed();

        var array = Npy.Read(input);
        if (array.Shape.Length != 3) throw new UsageException($"{input}: a {array.Shape.Length}D array; convert takes 3D (z, y, x) arrays");
        var volume = new Volume((int)array.Shape[2], (int)array.Shape[1], (int)array.Shape[0], array.AsFloat(),
            Affine.Scaling(spacing[2], spacing[1], spacing[0]));
        NiftiWriter.Write(outPath, volume, labels ? NiftiDataType.UInt8 : NiftiDataType.Float32);
        output.WriteLine($"{input} ({string.Join("x", array.Shape)} z,y,x) -> {outPath}: {volume}");
        return 0;
    }
}
