using System.Diagnostics;
using GuidedNet.GpuJob.Cli;
using GuidedNet.Imaging;
using GuidedNet.Imaging.Dicom;
using GuidedNet.Imaging.Labels;
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
    /// <summary>Every case's outcome, written to the output folder after each case.</summary>
    public const string OutcomesFile = "predictions.csv";

    public static readonly CommandSpec Spec = new("guidednet predict --model M --input FILE|DIR --output DIR [options]", CommandSpec.With(
    [
        new("model", "M", "PyTorch state dict of the authors' network (.pth) or a GuidedNet model file"),
        new("input", "FILE|DIR", "a NIfTI scan (<case>_0000.nii.gz or <case>.nii.gz), a DICOM series (a folder, <case>.zip or one file), or a folder of NIfTI scans, series zips or series folders"),
        new("series", "UID", "of a DICOM input holding several series, the one to read", DefaultText: "the largest"),
        new("output", "DIR", "where <case>.nii.gz masks are written, with labels.json (value -> organ name) and, for DICOM input, <case>.seg.dcm (DICOM SEG referencing the series)"),
        new("patch", "D,H,W", "window size in voxels, z,y,x", DefaultText: "the model's training patch"),
        new("stride", "D,H,W", "window step in voxels, z,y,x; or --overlap", DefaultText: "from --overlap"),
        new("overlap", "F", "fraction of a window its neighbour overlaps", Default: FormattableString.Invariant($"{new SlidingWindowOptions().Overlap}")),
        new("gaussian", null, "Gaussian weighting of overlapping windows (nnU-Net)"),
        new("tta", null, "average over the 8 mirrorings of each window"),
        new("ensemble", null, "average the probabilities of both networks of a GuidedNet/CPS model", DefaultText: "the network validation preferred, alone"),
        new("batch-windows", "N", "windows per forward pass", Default: FormattableString.Invariant($"{new SlidingWindowOptions().WindowsPerBatch}")),
        new("fast", null, "faster, not exact (measured: docs/performance.md, \"Fast mode\"): the parts the model's calibration kept within bounds (guidednet calibrate-fast; training does it on its validation cases), else the network in bf16 where the device has it and windows wholly in air skipped; an explicit --precision or --overlap wins over its part"),
        new("fast-parts", "LIST", "chosen parts, a comma list: bf16, body (skip windows in air), crop (tile the body's box on its own: far fewer windows on a CT, measurably less exact), overlap (0.25 instead of 0.5: fewer windows, measurably less exact); or all, exact, fast"),
        new("precision", "P", "the network's number format: fp32 (exact), bf16, fp16 (CUDA)", DefaultText: "fp32, or bf16 with --fast"),
        new("preset", "P", PreprocessingPlan.PresetChoices, DefaultText: "the model's"),
        new("raw", null, "the reference's behaviour: the stored array straight to the network, uniform averaging, no TTA"),
        new("preview", null, "also write <case>.png: axial, coronal and sagittal slices through the mask (radiological convention, organ legend)"),
        new("roi", "NAMES", "keep only these labels, by name (e.g. liver,spleen; see labels.json); others become 0"),
        new("per-organ", null, "also write <case>/<organ>.nii.gz: one binary mask per label"),
        new("no-postprocessing", null, "skip the model's post-processing (keeping each listed class's largest connected component, as its validation decided)"),
        new("skip-existing", null, "leave cases whose mask is already in --output (resumes a stopped batch)"),
    ], ComputeArguments.Options), """
        A failing case is reported and the batch goes on; <output>/predictions.csv lists every
        case's outcome, and the exit code is 1 when any failed. Masks are written whole or not at
        all; an output that would overwrite an input is refused. Ctrl+C / SIGTERM stops within a
        window (exit 130).
        """);

    public static int Run(CommandLineArguments args, TextWriter output, TextWriter error, CancellationToken cancellation = default)
    {
        string modelPath = args.Required("model");
        string input = args.Required("input");
        string outputDir = args.Required("output");
        var compute = ComputeArguments.Read(args);
        bool raw = args.Flag("raw");
        bool gaussian = args.Flag("gaussian"), tta = args.Flag("tta"), preview = args.Flag("preview"), ensemble = args.Flag("ensemble");
        if (raw && (gaussian || tta)) throw new UsageException("--raw is the reference's uniform averaging without TTA: drop --gaussian/--tta");
        string? preset = args.String("preset");
        if (raw && preset is not null && preset != "none") throw new UsageException("--raw takes the stored array as is: it cannot be combined with --preset");
        int[]? patch = args.Triple("patch");
        int[]? stride = args.Triple("stride");
        double? overlap = args.Has("overlap") ? args.Double("overlap") : null;
        if (stride is not null && overlap is not null) throw new UsageException("give --stride or --overlap, not both");
        int batchWindows = args.Int("batch-windows");
        string? fastParts = args.String("fast-parts");
        var fast = fastParts is not null ? ParseFast(fastParts) : args.Flag("fast") ? FastMode.Default : FastMode.Exact;
        string? precision = args.String("precision");
        bool skipExisting = args.Flag("skip-existing");
        string? series = args.String("series");
        string? roi = args.String("roi");
        bool perOrgan = args.Flag("per-organ");
        bool postProcess = !args.Flag("no-postprocessing");
        args.EnsureAllUsed();
        var windows = new SlidingWindowOptions
        {
            Patch = patch ?? new[] { 64, 128, 128 },
            Stride = stride,
            Overlap = args.Double("overlap"),
            Gaussian = gaussian,
            MirrorTta = tta,
            WindowsPerBatch = batchWindows,
        };
        try
        {
            if (precision is not null) windows.Precision = InferencePrecisions.Parse(precision);
            windows.Validate();
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.Message);
        }

        var cases = PlanCases(CaseFiles.Find(input), outputDir, preview);
        var device = TorchRuntime.Configure(compute);
        using var model = ModelFile.Load(modelPath, device, raw ? "none" : preset is null ? null : PreprocessingPlan.FromName(preset).Name, ensemble: ensemble);
        fast = fast.ForModel(model.Metadata);
        windows = fast.Apply(windows, device, precisionChosen: precision is not null, overlapChosen: overlap is not null);
        var plan = raw ? PreprocessingPlan.Raw : model.Plan();
        if (patch is null) windows.Patch = model.Metadata.Patch;
        var predictor = new CasePredictor(model, device, windows, plan, postProcess);
        var labels = model.Metadata.Labels();
        try
        {
            if (roi is not null) labels = labels.Subset(roi.Split(','));
        }
        catch (ArgumentException e)
        {
            throw new UsageException("--roi: " + e.Message);
        }
        output.WriteLine($"model {modelPath}: {model.Metadata.NumClasses} classes, width {model.Metadata.BaseChannels}, " +
                         (ensemble ? "ensemble of both networks, " : model.Metadata.Networks == 2 ? $"network {model.Metadata.PreferredNetwork} of 2, " : "") +
                         $"preprocessing '{plan.Name}', device {TorchRuntime.Describe(device)}");
        output.WriteLine($"patch {string.Join("x", windows.Patch)}, stride {string.Join("x", windows.EffectiveStride())}, " +
                         $"{(gaussian ? "gaussian" : "uniform")} averaging{(tta ? ", mirror TTA" : "")}; {FastMode.Describe(windows, fast, device)}; {cases.Count} scan(s)");
        Directory.CreateDirectory(outputDir);
        labels.Write(Path.Combine(outputDir, LabelTable.FileName));

        var outcomes = cases.ToDictionary(c => c.Name, c => new CaseOutcome(c, "not run", 0, null));
        void Record(CaseOutcome outcome)
        {
            outcomes[outcome.Case.Name] = outcome;
            WriteOutcomes(Path.Combine(outputDir, OutcomesFile), cases.Select(c => outcomes[c.Name]));
        }
        foreach (var c in cases)
        {
            if (cancellation.IsCancellationRequested) break;
            if (skipExisting && File.Exists(c.Mask))
            {
                output.WriteLine($"{c.Name}: {c.Mask} exists, skipped");
                Record(new CaseOutcome(c, "skipped", 0, null));
                continue;
            }
            var clock = Stopwatch.StartNew();
            try
            {
                var (scan, dicom) = ScanReader.Load(c.Scan, series, message => output.WriteLine($"{c.Name}: {message}"));
                var result = predictor.Predict(scan, c.Scan, new ConsoleProgress(output, c.Name), cancellation);
                var mask = roi is null ? result.Mask : KeepLabels(result.Mask, labels);
                NiftiWriter.Write(c.Mask, mask, NiftiDataType.UInt8);
                if (perOrgan) WriteOrganMasks(Path.Combine(outputDir, c.Name), mask, labels);
                if (dicom is not null)
                {
                    int segments = SegmentationWriter.Write(c.Seg, mask, dicom, labels, GuidedNetCli.Version);
                    output.WriteLine(segments > 0 ? $"{c.Name}: DICOM SEG with {segments} segment(s) -> {c.Seg}" : $"{c.Name}: no organ found; no DICOM SEG written");
                }
                if (c.Preview is { } png) SegmentationPreview.Write(png, scan, mask, labels);
                output.WriteLine($"{c.Name}: {scan} -> {c.Mask} in {clock.Elapsed.TotalSeconds:F1} s " +
                                 $"(preprocess {result.Preprocessing.TotalSeconds:F1} s, model {result.Model.TotalSeconds:F1} s, " +
                                 $"{scan.VoxelCount / Math.Max(1e-9, result.Model.TotalSeconds) / 1e6:F3} Mvox/s, restore {result.Restoring.TotalSeconds:F1} s" +
                                 (windows.Coverage != WindowCoverage.WholeVolume ? $"; {result.Windows - result.SkippedWindows} of {result.Windows} windows for the body ({result.Body?.ToString() ?? "none found: the whole volume"})" : "") + ")");
                Record(new CaseOutcome(c, "done", clock.Elapsed.TotalSeconds, null));
            }
            catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
            {
                Record(new CaseOutcome(c, "stopped", clock.Elapsed.TotalSeconds, "stopped by a signal"));
            }
            catch (Exception e)
            {
                // Whatever one scan does (a bad file, a geometry over the limits, libtorch running out of memory),
                // the others still run: one line naming the case, and its row in predictions.csv.
                string message = GuidedNetCli.OneLine(e is ScanFormatException ? e.Message : $"{c.Scan}: {e.GetType().Name}: {e.Message}");
                error.WriteLine($"error: {message}");
                Record(new CaseOutcome(c, "failed", clock.Elapsed.TotalSeconds, message));
            }
        }
        int failures = outcomes.Values.Count(o => o.Status == "failed");
        if (cancellation.IsCancellationRequested)
        {
            error.WriteLine($"stopped: {outcomes.Values.Count(o => o.Status is "done" or "skipped")} of {cases.Count} scan(s) have masks; " +
                            $"continue with --skip-existing (see {Path.Combine(outputDir, OutcomesFile)})");
            return 130;
        }
        if (failures > 0) error.WriteLine($"{failures} of {cases.Count} scan(s) failed (see {Path.Combine(outputDir, OutcomesFile)})");
        return failures == 0 ? 0 : 1;
    }

    private static FastMode ParseFast(string parts)
    {
        try
        {
            return FastMode.Parse(parts);
        }
        catch (ArgumentException e)
        {
            throw new UsageException("--fast-parts: " + e.Message);
        }
    }

    private static Volume KeepLabels(Volume mask, LabelTable labels)
    {
        var kept = labels.Entries.Select(e => (float)e.Value).ToHashSet();
        return mask.WithVoxels(mask.Voxels.Select(v => kept.Contains(v) ? v : 0f).ToArray());
    }

    /// <summary>One binary mask per label, named for its organ, in the mask's own geometry.</summary>
    private static void WriteOrganMasks(string folder, Volume mask, LabelTable labels)
    {
        Directory.CreateDirectory(folder);
        foreach (var e in labels.Entries)
            NiftiWriter.Write(Path.Combine(folder, LabelTable.FileSafe(e.Name) + ".nii.gz"),
                mask.WithVoxels(mask.Voxels.Select(v => v == e.Value ? 1f : 0f).ToArray()), NiftiDataType.UInt8);
    }

    private sealed record PlannedCase(string Name, string Scan, string Mask, string Seg, string? Preview);

    private sealed record CaseOutcome(PlannedCase Case, string Status, double Seconds, string? Error);

    /// <summary>
    /// Each scan's case name and output files, refused before anything runs when two scans would
    /// write the same mask or an output would replace an input (<c>--output</c> = <c>--input</c>
    /// with scans named <c>&lt;case&gt;.nii.gz</c>).
    /// </summary>
    private static List<PlannedCase> PlanCases(IReadOnlyList<string> scans, string outputDir, bool preview)
    {
        var cases = scans.Select(scan =>
        {
            string name = Data.MsdDataset.CaseName(scan);
            return new PlannedCase(name, scan, Path.GetFullPath(Path.Combine(outputDir, name + ".nii.gz")),
                Path.GetFullPath(Path.Combine(outputDir, name + ".seg.dcm")), preview ? Path.GetFullPath(Path.Combine(outputDir, name + ".png")) : null);
        }).ToList();
        foreach (var same in cases.GroupBy(c => c.Name).Where(g => g.Count() > 1))
            throw new UsageException($"{string.Join(" and ", same.Select(c => c.Scan))} are all case '{same.Key}': they would write one mask; keep one of them");
        var inputs = scans.GroupBy(RealPath).ToDictionary(g => g.Key, g => g.First());
        foreach (var c in cases)
            foreach (string written in new[] { c.Mask, c.Seg, c.Preview }.OfType<string>())
                if (inputs.TryGetValue(RealPath(written), out string? scan))
                    throw new UsageException($"--output: the mask of case '{c.Name}' would replace the input scan {scan}; choose another output folder");
        return cases;
    }

    /// <summary>A path with every link along it resolved, so that an output reached through a link is still seen to be an input.</summary>
    private static string RealPath(string path) => RealPath(path, depth: 0);

    private static string RealPath(string path, int depth)
    {
        string full = Path.GetFullPath(path);
        string current = Path.GetPathRoot(full)!;
        foreach (string part in full[current.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries))
        {
            current = Path.Combine(current, part);
            FileSystemInfo entry = Directory.Exists(current) ? new DirectoryInfo(current) : new FileInfo(current);
            if (entry.LinkTarget is not null && depth < 40 && entry.ResolveLinkTarget(returnFinalTarget: true) is { } target)
                current = RealPath(target.FullName, depth + 1);
        }
        return current;
    }

    private static void WriteOutcomes(string path, IEnumerable<CaseOutcome> outcomes)
    {
        static string Field(string? text) => text is null ? "" : text.IndexOfAny([',', '"', '\n', '\r']) < 0 ? text : "\"" + text.Replace("\"", "\"\"") + "\"";
        var lines = new List<string> { "case,scan,mask,status,seconds,error" };
        lines.AddRange(outcomes.Select(o => string.Join(",", Field(o.Case.Name), Field(o.Case.Scan), Field(o.Case.Mask), o.Status,
            o.Seconds.ToString("F1", System.Globalization.CultureInfo.InvariantCulture), Field(o.Error))));
        AtomicFile.WriteAllText(path, string.Join("\n", lines) + "\n");
    }
}
