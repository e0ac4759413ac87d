using System.Diagnostics;
using System.Globalization;
using GuidedNet.Data;
using GuidedNet.Evaluation;
using GuidedNet.GpuJob.Cli;
using GuidedNet.Imaging;
using GuidedNet.Inference;
using GuidedNet.Models;
using GuidedNet.Runtime;

namespace GuidedNet.GpuJob.Commands;

/// <summary>
/// <c>guidednet bench agreement</c>: how far fast mode's masks are from exact prediction's, on a
/// dataset's test cases with their true labels. Each part of <see cref="FastMode"/> and their
/// combination are run on every case; reported are the voxel agreement with the exact mask, the
/// per-class Dice to it, and each class's Dice to the truth against exact prediction's. A mode is
/// acceptable when no class's Dice to the truth moves by more than <see cref="MaxDiceChange"/> and
/// at least <see cref="MinVoxelAgreement"/> of the voxels agree.
/// </summary>
public static class AgreementBenchmark
{
    public const double MaxDiceChange = 0.005, MinVoxelAgreement = 0.995;

    public static readonly CommandSpec Spec = new("guidednet bench agreement --model M --dataset DIR [options]", CommandSpec.With(
    [
        new("model", "M", "a GuidedNet model file"),
        new("dataset", "DIR", "a dataset whose imagesTs/ and labelsTs/ hold the test cases"),
        new("modes", "LIST", "fast modes to compare with exact prediction, each a part (bf16, body, crop, overlap), parts joined by '+', 'fast' (what --fast does) or 'all'", Default: "bf16,body,crop,overlap,fast,all"),
        new("cases", "N", "the first N test cases", DefaultText: "all"),
    ], ComputeArguments.Options), "Exact = what the worker runs: Gaussian weighting, overlap 0.5, the model's patch and post-processing.");

    public static int Run(CommandLineArguments args, TextWriter output)
    {
        string modelPath = args.Required("model");
        string dataset = args.Required("dataset");
        var modes = args.String("modes")!.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(m => Parse(m)).ToList();
        int maxCases = args.Int("cases", int.MaxValue);
        var compute = ComputeArguments.Read(args);
        args.EnsureAllUsed();
        compute.Validate();
        string images = Path.Combine(dataset, "imagesTs"), labels = Path.Combine(dataset, "labelsTs");
        if (!Directory.Exists(images) || !Directory.Exists(labels)) throw new UsageException($"--dataset {dataset}: needs imagesTs/ and labelsTs/");
        var scans = CaseFiles.Find(images).Take(maxCases).ToList();

        var device = TorchRuntime.Configure(compute);
        using var model = ModelFile.Load(modelPath, device);
        int numClasses = model.Metadata.NumClasses;
        var exactOptions = new SlidingWindowOptions { Patch = model.Metadata.Patch, Gaussian = true };
        var runs = new[] { FastMode.Exact }.Concat(modes).Select(m => new ModeRun(m, new CasePredictor(model, device, m.Apply(exactOptions, device), model.Plan()), numClasses)).ToList();

        output.WriteLine($"machine: {Environment.ProcessorCount} cores, {BenchCommand.MachineDescription()}; device {TorchRuntime.Describe(device)}");
        output.WriteLine($"model {modelPath}: {numClasses} classes, width {model.Metadata.BaseChannels}, patch {string.Join("x", model.Metadata.Patch)}; " +
                         $"{scans.Count} test case(s) of {dataset}");
        foreach (string scanFile in scans)
        {
            string name = MsdDataset.CaseName(scanFile);
            string labelFile = Path.Combine(labels, name + ".nii.gz");
            if (!File.Exists(labelFile)) throw new UsageException($"{scanFile}: no label {labelFile}");
            var scan = ScanReader.Read(scanFile);
            var truthVolume = ScanReader.Read(labelFile);
            if (!truthVolume.SameGrid(scan)) throw new UsageException($"{labelFile}: its grid differs from the scan {scanFile}");
            var truth = ToBytes(LabelMap.ToLabels(truthVolume.Voxels, labelFile), labelFile, numClasses);
            byte[]? exact = null;
            foreach (var run in runs)
            {
                var clock = Stopwatch.StartNew();
                var prediction = run.Predictor.Predict(scan, scanFile);
                run.Seconds += clock.Elapsed.TotalSeconds;
                run.Windows += prediction.Windows - prediction.SkippedWindows;
                var mask = ToBytes(LabelMap.ToLabels(prediction.Mask.Voxels, scanFile), scanFile, numClasses);
                exact ??= mask;
                run.Add(mask, exact, truth);
            }
            output.WriteLine($"{name}: {scan.SizeX}x{scan.SizeY}x{scan.SizeZ}; " + string.Join(", ", runs.Skip(1).Select(r => $"{r.Mode}: agreement {r.LastAgreement:P3}")));
        }

        var exactRun = runs[0];
        output.WriteLine();
        output.WriteLine("| mode | windows | seconds | speed-up | voxel agreement | foreground agreement | lowest class Dice to exact | largest Dice change to truth | acceptable |");
        output.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---|");
        foreach (var run in runs)
        {
            var change = run.DiceChange(exactRun);
            bool ok = run.VoxelAgreement >= MinVoxelAgreement && change.Magnitude <= MaxDiceChange;
            output.WriteLine(FormattableString.Invariant(
                $"| {run.Mode} | {run.Windows} | {run.Seconds:F1} | {exactRun.Seconds / run.Seconds:F2}x | {run.VoxelAgreement:P3} | {run.ForegroundAgreement:P2} | {run.LowestDiceToExact:F4} | {change.Text} | {(run.Mode.IsExact ? "" : ok ? "yes" : "no")} |"));
        }
        output.WriteLine();
        output.WriteLine("Dice to the truth per class (mean over the test cases holding it):");
        output.WriteLine();
        output.WriteLine("| class | " + string.Join(" | ", runs.Select(r => r.Mode.ToString())) + " |");
        output.WriteLine("|---|" + string.Concat(runs.Select(_ => "---:|")));
        for (int k = 1; k < numClasses; k++)
        {
            if (exactRun.MeanDiceToTruth(k) is null) continue;
            output.WriteLine($"| {model.Metadata.Labels().NameOf(k)} | " +
                             string.Join(" | ", runs.Select(r => r.MeanDiceToTruth(k)?.ToString("F4", CultureInfo.InvariantCulture) ?? "")) + " |");
        }
        output.WriteLine();
        output.WriteLine(FormattableString.Invariant($"acceptable: voxel agreement ≥ {MinVoxelAgreement:P1} and every class's Dice to the truth within {MaxDiceChange} of exact prediction's"));
        return 0;
    }

    private static FastMode Parse(string mode)
    {
        try
        {
            return FastMode.Parse(mode);
        }
        catch (ArgumentException e)
        {
            throw new UsageException("--modes: " + e.Message);
        }
    }

    private static byte[] ToBytes(int[] labels, string file, int numClasses)
    {
        var bytes = new byte[labels.Length];
        for (int i = 0; i < labels.Length; i++)
        {
            if (labels[i] >= numClasses) throw new UsageException($"{file}: label {labels[i]} is not a class of the model ({numClasses} classes)");
            bytes[i] = (byte)labels[i];
        }
        return bytes;
    }

    /// <summary>One mode's predictions over the test cases, compared as they come.</summary>
    private sealed class ModeRun(FastMode mode, CasePredictor predictor, int numClasses)
    {
        private long _voxels, _agreeing, _foreground, _foregroundAgreeing;
        private readonly List<double?[]> _toExact = new(), _toTruth = new();

        public FastMode Mode { get; } = mode;
        public CasePredictor Predictor { get; } = predictor;
        public double Seconds { get; set; }
        public long Windows { get; set; }
        public double LastAgreement { get; private set; }

        public double VoxelAgreement => (double)_agreeing / _voxels;

        /// <summary>Agreement over voxels that either mask calls foreground: the part a whole-volume figure hides.</summary>
        public double ForegroundAgreement => _foreground == 0 ? 1 : (double)_foregroundAgreeing / _foreground;

        public double LowestDiceToExact => _toExact.SelectMany(d => d).OfType<double>().DefaultIfEmpty(1).Min();

        public void Add(byte[] mask, byte[] exact, byte[] truth)
        {
            long agreeing = 0, foreground = 0, foregroundAgreeing = 0;
            for (int i = 0; i < mask.Length; i++)
            {
                bool same = mask[i] == exact[i];
                if (same) agreeing++;
                if (mask[i] != 0 || exact[i] != 0)
                {
                    foreground++;
                    if (same) foregroundAgreeing++;
                }
            }
            _voxels += mask.Length;
            _agreeing += agreeing;
            _foreground += foreground;
            _foregroundAgreeing += foregroundAgreeing;
            LastAgreement = (double)agreeing / mask.Length;
            _toExact.Add(DiceScore.ByClass(mask, exact, numClasses));
            // Only the classes the truth holds: Dice of a class absent from the truth is 0 or undefined.
            var toTruth = DiceScore.ByClass(mask, truth, numClasses);
            var present = new bool[numClasses];
            foreach (byte t in truth) present[t] = true;
            _toTruth.Add(toTruth.Select((d, i) => present[i + 1] ? d : null).ToArray());
        }

        /// <summary>Class k's mean Dice to the truth over the cases holding it, or null when none does.</summary>
        public double? MeanDiceToTruth(int k)
        {
            var values = _toTruth.Select(d => d[k - 1]).OfType<double>().ToList();
            return values.Count == 0 ? null : values.Average();
        }

        public (double Magnitude, string Text) DiceChange(ModeRun exact)
        {
            var changes = Enumerable.Range(1, numClasses - 1)
                .Select(k => (k, change: MeanDiceToTruth(k) is { } mine && exact.MeanDiceToTruth(k) is { } theirs ? mine - theirs : (double?)null))
                .Where(c => c.change is not null).ToList();
            if (changes.Count == 0) return (0, "");
            var largest = changes.MaxBy(c => Math.Abs(c.change!.Value));
            return (Math.Abs(largest.change!.Value), FormattableString.Invariant($"{largest.change:+0.0000;-0.0000;0.0000} (class {largest.k})"));
        }
    }
}
