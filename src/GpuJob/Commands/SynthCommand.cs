using GuidedNet.Imaging.Geometry;
using GuidedNet.GpuJob.Cli;
using GuidedNet.Imaging.Synthetic;

namespace GuidedNet.GpuJob.Commands;

/// <summary><c>guidednet synth</c>: an MSD-layout dataset of synthetic abdominal phantoms.</summary>
public static class SynthCommand
{
    public static readonly IReadOnlySet<string> Flags = new HashSet<string> { "no-orientation" };

    public const string Usage = """
        guidednet synth --out DIR [--cases N] [--labeled M] [--test T] [--classes K] [--size X,Y,Z] [--seed S]
          --cases N          training cases in imagesTr (default 20)
          --labeled M        how many of them get labels in labelsTr (default: all)
          --test T           test cases in imagesTs with labelsTs (default 0)
          --classes K        classes including background, 2..14 (default 6)
          --size X,Y,Z       voxel grid (default 64,64,40)
          --seed S           (default 1)
          --no-orientation   keep every header in RAS (default: random flips and axis swaps)
          --spacing X,Y,Z    fixed voxel spacing in mm, e.g. 0.78,0.78,1.5 with --size 512,512,300 for a
                             clinical-size CT (default: the grid spans the body, spacing jittered per case)
        """;

    public static int Run(CommandLineArguments args, TextWriter output)
    {
        string folder = args.Required("out");
        int cases = args.Int("cases", 20);
        int labeled = args.Int("labeled", cases);
        int test = args.Int("test", 0);
        int classes = args.Int("classes", 6);
        int seed = args.Int("seed", 1);
        var size = args.Triple("size") ?? new[] { 64, 64, 40 };
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
