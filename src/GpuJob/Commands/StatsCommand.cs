using System.Globalization;
using System.Text.Json;
using GuidedNet.GpuJob.Cli;
using GuidedNet.Imaging;
using GuidedNet.Imaging.Labels;

namespace GuidedNet.GpuJob.Commands;

/// <summary>
/// <c>guidednet stats</c>: per-organ statistics of a mask on its scan (TotalSegmentator's
/// <c>--statistics</c>): volume, voxels, intensity mean / std / 5th / 95th percentile, bounding box
/// in world millimetres, and whether the organ touches the scan's edge.
/// </summary>
public static class StatsCommand
{
    public static readonly CommandSpec Spec = new("guidednet stats --image SCAN --mask MASK [--labels labels.json] [--output FILE.json] [--series UID]",
    [
        new("image", "SCAN", "the scan: NIfTI or a DICOM series (folder, .zip or file)"),
        new("mask", "MASK", "its mask (NIfTI in the scan's grid, as predict writes it)"),
        new("labels", "FILE", "organ names", DefaultText: "labels.json beside the mask, else class_N"),
        new("output", "FILE", "where the JSON goes", DefaultText: "<mask without extension>.stats.json"),
        new("series", "UID", "of a DICOM input holding several series, the one the mask belongs to", DefaultText: "the largest"),
    ], "Intensities are the scan's own values (HU for CT); boxes are RAS world coordinates of voxel centres.");

    public static int Run(CommandLineArguments args, TextWriter output)
    {
        string imagePath = args.Required("image");
        string maskPath = args.Required("mask");
        string? labelsPath = args.String("labels");
        string? series = args.String("series");
        string outPath = args.String("output") ?? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(maskPath))!, ScanFileNames.CaseName(maskPath) + ".stats.json");
        args.EnsureAllUsed();

        var image = ScanReader.Read(imagePath, series, output.WriteLine);
        var mask = ScanReader.Read(maskPath);
        if (!image.SameGrid(mask))
            throw new UsageException($"{maskPath}: {mask.SizeX}x{mask.SizeY}x{mask.SizeZ} voxels, but the scan {imagePath} has {image.SizeX}x{image.SizeY}x{image.SizeZ}");
        labelsPath ??= Path.Combine(Path.GetDirectoryName(Path.GetFullPath(maskPath))!, LabelTable.FileName);
        int classes = (int)mask.Voxels.Max() + 1;
        var names = File.Exists(labelsPath) ? Data.MsdDataset.ReadLabels(labelsPath) : new Dictionary<int, string>();
        classes = Math.Max(classes, names.Count == 0 ? 0 : names.Keys.Max() + 1);
        var labels = LabelTable.FromNames(Enumerable.Range(0, classes).Select(k => names.GetValueOrDefault(k)).ToList(), classes);

        var organs = OrganStatistics.Compute(image, mask, labels);
        AtomicFile.WriteAllText(outPath, JsonSerializer.Serialize(new { image = imagePath, mask = maskPath, organs },
            new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase }));
        output.WriteLine($"{"organ",-24} {"volume mL",10} {"voxels",10} {"mean",9} {"std",8} {"p5",9} {"p95",9}  edge");
        foreach (var o in organs)
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{o.Label + " " + o.Name,-24} {o.VolumeMl,10:F2} {o.Voxels,10} {o.IntensityMean,9:F1} {o.IntensityStd,8:F1} {o.IntensityP5,9:F1} {o.IntensityP95,9:F1}  {(o.TouchesEdge ? "yes (may be cut off)" : "no")}"));
        output.WriteLine($"wrote {outPath}");
        return 0;
    }
}
