using System.Text.Json;
using GuidedNet.Evaluation;
using GuidedNet.GpuJob.Cli;
using GuidedNet.Imaging;
using GuidedNet.Imaging.Labels;
using GuidedNet.Imaging.Nifti;

namespace GuidedNet.GpuJob.Commands;

/// <summary><c>guidednet evaluate</c>: predicted and true masks in, metrics.json / metrics.csv out.</summary>
public static class EvaluateCommand
{
    public static readonly CommandSpec Spec = new("guidednet evaluate --pred DIR --truth DIR [--labels dataset.json] [--output DIR]",
    [
        new("pred", "DIR", "predicted masks <case>.nii.gz"),
        new("truth", "DIR", "ground-truth masks <case>.nii.gz (every case needs a prediction)"),
        new("labels", "FILE", "dataset.json whose \"labels\" name the classes (MSD or nnU-Net v2 style)", DefaultText: "the labels.json predict wrote beside the masks"),
        new("output", "DIR", "where metrics.json and metrics.csv go", DefaultText: "the --pred folder"),
        new("nsd-tolerance", "MM", "tolerance of the normalised surface Dice in mm (FLARE22's)", Default: FormattableString.Invariant($"{SegmentationMetrics.DefaultNsdToleranceMm}")),
    ]);

    public static int Run(CommandLineArguments args, TextWriter output, TextWriter error)
    {
        string predDir = args.Required("pred");
        string truthDir = args.Required("truth");
        string? labelsFile = args.String("labels");
        string outDir = args.String("output") ?? predDir;
        double tolerance = args.Double("nsd-tolerance");
        args.EnsureAllUsed();
        if (!(tolerance >= 0) || !double.IsFinite(tolerance)) throw new UsageException($"--nsd-tolerance must be a distance ≥ 0 mm, got {tolerance}");

        labelsFile ??= File.Exists(Path.Combine(predDir, LabelTable.FileName)) ? Path.Combine(predDir, LabelTable.FileName) : null;
        var names = labelsFile is null ? new Dictionary<int, string>() : Data.MsdDataset.ReadLabels(labelsFile);
        var truthFiles = CaseFiles.Find(truthDir);
        var predictions = CaseFiles.Find(predDir).ToDictionary(Data.MsdDataset.CaseName);
        var missing = truthFiles.Select(Data.MsdDataset.CaseName).Where(c => !predictions.ContainsKey(c)).ToList();
        if (missing.Count > 0) throw new UsageException($"no prediction in {predDir} for: {string.Join(", ", missing)}");

        var cases = new List<CaseMetrics>();
        foreach (string truthFile in truthFiles)
        {
            string name = Data.MsdDataset.CaseName(truthFile);
            var truth = ScanReader.Read(truthFile);
            var pred = ScanReader.Read(predictions[name]);
            if (!truth.SameGrid(pred))
                throw new UsageException($"{predictions[name]}: {pred.SizeX}x{pred.SizeY}x{pred.SizeZ} voxels, but the truth {truthFile} has {truth.SizeX}x{truth.SizeY}x{truth.SizeZ}");
            int[] p = LabelMap.ToLabels(pred.Voxels, predictions[name]);
            int[] t = LabelMap.ToLabels(truth.Voxels, truthFile);
            var labels = names.Count > 0
                ? names.Keys.Where(k => k > 0).Order().ToArray()
                : p.Concat(t).Where(v => v > 0).Distinct().Order().ToArray();
            var s = truth.Spacing;
            var metrics = SegmentationMetrics.Compute(p, t, truth.SizeZ, truth.SizeY, truth.SizeX, (s.Z, s.Y, s.X), labels, tolerance);
            cases.Add(new CaseMetrics(name, metrics));
            output.WriteLine($"{name}: " + string.Join(", ", metrics.Where(m => !m.Absent).Select(m => $"{m.Label}: Dice {m.Dice:F3}, NSD {m.Nsd:F3}")));
        }

        var report = new MetricsReport(cases, names, tolerance);
        Directory.CreateDirectory(outDir);
        File.WriteAllText(Path.Combine(outDir, "metrics.json"), report.ToJson());
        File.WriteAllText(Path.Combine(outDir, "metrics.csv"), report.ToCsv());
        output.WriteLine();
        output.Write(report.ToTable());
        output.WriteLine($"wrote {Path.Combine(outDir, "metrics.json")} and metrics.csv");
        return 0;
    }
}
