using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using GuidedNet.GpuJob.Cli;
using GuidedNet.Imaging;
using GuidedNet.Imaging.Geometry;
using GuidedNet.Imaging.Nifti;
using GuidedNet.Pipeline.Validation;

namespace GuidedNet.GpuJob.Commands;

/// <summary>
/// <c>guidednet bench validate</c>: time and peak RSS of checking one case (CT + label) the way the
/// Functions app does — streaming over each file — beside reading both whole (what validation did
/// before), each in its own child process. The case is a synthetic int16 CT with a uint8 label of
/// clinical size, written slice by slice.
/// </summary>
public static class ValidationBenchmark
{
    public static readonly CommandSpec Spec = new("guidednet bench validate [options]",
    [
        new("size", "X,Y,Z", "the CT, x,y,z voxels (a clinical abdominal CT)", Default: "512,512,1000"),
        new("checks", "LIST", "streaming (the pipeline's validation) and/or whole (both files read whole)", Default: "streaming,whole"),
        new("work", "DIR", "where the case is written", DefaultText: "a temporary folder, removed afterwards"),
        new("child", "CHECK", "one measurement, in this process", Hidden: true),
        new("image", "FILE", "the child's CT", Hidden: true),
        new("label", "FILE", "the child's label", Hidden: true),
        new("classes", "K", "the child's classes", Default: "5", Hidden: true),
    ]);

    public sealed record Result(string Check, string? Problem, double Seconds, double PeakRssMb);

    public static int Run(CommandLineArguments args, TextWriter output)
    {
        string? child = args.String("child");
        int[] size = args.Triple("size")!;
        string checks = args.String("checks")!;
        string? work = args.String("work");
        string? image = args.String("image"), label = args.String("label");
        int classes = args.Int("classes");
        args.EnsureAllUsed();
        if (child is not null)
        {
            output.WriteLine(JsonSerializer.Serialize(Measure(child, image ?? throw new UsageException("--image is required"),
                label ?? throw new UsageException("--label is required"), classes)));
            return 0;
        }

        using var temp = work is null ? new Pipeline.Storage.TempFolder() : null;
        string folder = work ?? temp!.Root;
        Directory.CreateDirectory(folder);
        string ct = Path.Combine(folder, "ct.nii.gz"), labels = Path.Combine(folder, "label.nii.gz");
        var clock = Stopwatch.StartNew();
        WriteCase(ct, labels, size);
        output.WriteLine(FormattableString.Invariant(
            $"case: {size[0]}x{size[1]}x{size[2]} int16 CT ({new FileInfo(ct).Length / 1e6:F0} MB gz) + uint8 label ({new FileInfo(labels).Length / 1e6:F1} MB gz), written in {clock.Elapsed.TotalSeconds:F0} s"));
        output.WriteLine($"machine: {Environment.ProcessorCount} cores, {BenchCommand.MachineDescription()}");
        output.WriteLine();
        output.WriteLine("| check | seconds | peak RSS MB | result |");
        output.WriteLine("|---|---:|---:|---|");
        foreach (string check in checks.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var r = BenchCommand.RunChild<Result>(["bench", "validate", "--child", check, "--image", ct, "--label", labels, "--classes", "5"]);
            output.WriteLine(FormattableString.Invariant($"| {r.Check} | {r.Seconds:F1} | {r.PeakRssMb:F0} | {r.Problem ?? "accepted"} |"));
        }
        return 0;
    }

    private static Result Measure(string check, string image, string label, int classes)
    {
        var clock = Stopwatch.StartNew();
        string? problem;
        switch (check)
        {
            case "streaming":
                problem = CaseValidator.CheckImage(image, image, out var grid) ?? CaseValidator.CheckLabel(label, label, grid!, classes);
                break;
            case "whole":
                var ct = NiftiReader.Read(image);
                var mask = NiftiReader.Read(label);
                problem = ct.SameGrid(mask) ? null : "grids differ";
                GC.KeepAlive(ct);
                break;
            default:
                throw new UsageException($"unknown check '{check}' (streaming, whole)");
        }
        return new Result(check, problem, clock.Elapsed.TotalSeconds, BenchCommand.PeakRssBytes() / 1e6);
    }

    /// <summary>A body (soft tissue, HU 40 ± noise) in air with a spine, and four ellipsoid organs labelled 1–4.</summary>
    private static void WriteCase(string ct, string label, int[] size)
    {
        var affine = Affine.Scaling(0.8, 0.8, 1.0);
        int nx = size[0], ny = size[1], nz = size[2];
        // Organ k: centre (cx, cy, cz) in voxels, semi-axes (rx, ry, rz).
        var organs = Enumerable.Range(1, 4).Select(k => (Cx: nx * (0.3 + 0.1 * k), Cy: ny * (0.4 + 0.05 * k), Cz: nz * (0.15 + 0.17 * k),
            Rx: nx * (0.04 + 0.01 * k), Ry: ny * (0.04 + 0.01 * k), Rz: nz * (0.06 + 0.01 * k))).ToArray();
        void Labels(int z, float[] slice)
        {
            Array.Clear(slice);
            for (int k = 0; k < organs.Length; k++)
            {
                var o = organs[k];
                double dz = (z - o.Cz) / o.Rz, rest = 1 - dz * dz;
                if (rest <= 0) continue;
                int y0 = Math.Max(0, (int)(o.Cy - o.Ry)), y1 = Math.Min(ny - 1, (int)(o.Cy + o.Ry));
                for (int y = y0; y <= y1; y++)
                {
                    double dy = (y - o.Cy) / o.Ry, left = rest - dy * dy;
                    if (left <= 0) continue;
                    double half = o.Rx * Math.Sqrt(left);
                    for (int x = Math.Max(0, (int)(o.Cx - half)); x <= Math.Min(nx - 1, (int)(o.Cx + half)); x++) slice[y * nx + x] = k + 1;
                }
            }
        }
        var random = new Random(3);
        NiftiWriter.WriteSlices(ct, nx, ny, nz, affine, NiftiDataType.Int16, (z, slice) =>
        {
            Labels(z, slice);
            for (int y = 0; y < ny; y++)
            {
                double by = (y - ny / 2.0) / (0.35 * ny);
                for (int x = 0; x < nx; x++)
                {
                    double bx = (x - nx / 2.0) / (0.45 * nx);
                    int i = y * nx + x;
                    bool spine = Math.Abs(x - nx / 2) < nx / 25 && y > ny * 0.7 && y < ny * 0.8;
                    slice[i] = bx * bx + by * by > 1 ? -1000 : spine ? 700 : 40 + 10 * slice[i] + random.Next(-20, 21);
                }
            }
        });
        NiftiWriter.WriteSlices(label, nx, ny, nz, affine, NiftiDataType.UInt8, Labels);
    }
}
