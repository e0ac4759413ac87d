using GuidedNet.Imaging.Geometry;
using GuidedNet.GpuJob.Cli;
using GuidedNet.Imaging.Synthetic;

namespace GuidedNet.GpuJob.Commands;

/// <summary><c>guidednet synth</c>: an MSD-layout dataset of synthetic abdominal phantoms.</summary>
public static class SynthCommand
{
    public static readonly CommandSpec Spec = new("guidednet synth --out DIR [options]",
    [
        new("out", "DIR", "the dataset folder to write (MSD layout: dataset.json, imagesTr, labelsTr, imagesTs, labelsTs)"),
        new("cases", "N", "training cases in imagesTr", Default: "20"),
        new("labeled", "M", "how many of them get labels in labelsTr", DefaultText: "all"),
        new("test", "T", "test cases in imagesTs with labelsTs", Default: "0"),
        new("classes", "K", "classes including background, 2..14", Default: "6"),
        new("size", "X,Y,Z", "voxel grid in NIfTI's axis order, x,y,z (a network's D,H,W is z,y,x)", Default: "64,64,40"),
        new("seed", "S", "random seed", Default: "1"),
        new("no-orientation", null, "keep every header in RAS (without it: random flips and axis swaps)"),
        new("spacing", "X,Y,Z", "fixed voxel spacing in mm, x,y,z: 0.78,0.78,1.5 with --size 512,512,300 is a clinical-size CT", DefaultText: "the grid spans the body, spacing jittered per case"),
    ]);

    public static int Run(CommandLineArguments args, TextWriter output)
    {
        string folder = args.Required("out");
        int cases = args.Int("cases");
        int labeled = args.Int("labeled", cases);
        int test = args.Int("test");
        int classes = args.Int("classes");
        int seed = args.Int("seed");
        var size = args.Triple("size")!;
        bool fixedOrientation = args.Flag("no-orientation");
        var spacing = args.DoubleTriple("spacing");
        args.EnsureAllUsed();
        if (cases < 1) throw new UsageException("--cases must be at least 1");
        if (labeled < 0 || labeled > cases) throw new UsageException($"--labeled must be within 0..{cases}");

        var generator = new PhantomGenerator(new PhantomOptions
        {
            Classes = classes,
            Size = (size[0], size[1], size[2]),
            RandomOrientation = !fixedOrientation,
            SpacingMm = spacing is null ? null : new Vector3d(spacing[0], spacing[1], spacing[2]),
        });
        generator.WriteDataset(folder, cases, labeled, test, seed);
        output.WriteLine($"wrote {cases} training cases ({labeled} labeled) and {test} test cases with {classes} classes to {folder}");
        return 0;
    }
}
