using System.Globalization;
using GuidedNet.Data;
using GuidedNet.GpuJob.Cli;
using GuidedNet.Imaging;
using GuidedNet.Evaluation;
using GuidedNet.Imaging.Labels;
using GuidedNet.Inference;
using GuidedNet.Models;
using GuidedNet.Runtime;

namespace GuidedNet.GpuJob.Commands;

/// <summary>
/// <c>guidednet calibrate-fast</c>: decides on labelled cases which fast parts a model's
/// <c>--fast</c> takes (<see cref="FastModeCalibration"/>) and writes them into the model file.
/// Training does the same on its validation cases; this is for models trained without it, or to
/// decide on more cases.
/// </summary>
public static class CalibrateFastCommand
{
    public static readonly CommandSpec Spec = new("guidednet calibrate-fast --model M --dataset DIR [options]", CommandSpec.With(
    [
        new("model", "M", "a GuidedNet model file; its fastParts are rewritten in place (or written to --output)"),
        new("dataset", "DIR", "a dataset folder with labelled cases"),
        new("split", "SPLIT", "test (imagesTs/ + labelsTs/) or train (imagesTr/ cases that have a label in labelsTr/): cases the model did not train on decide best", Default: "test"),
        new("cases", "N", "the first N labelled cases", DefaultText: "all"),
        new("names", "A,B", "only these cases, by name (e.g. the validation cases training.json lists)"),
        new("output", "M2", "write the calibrated model here instead", DefaultText: "--model"),
    ], ComputeArguments.Options), """
        Each case is predicted exactly (Gaussian weighting, overlap 0.5, the model's patch and
        post-processing: what the worker does) and with each candidate: bf16 + skipping air (the
        baseline), + a 0.25 overlap, + the body's box tiled on its own, and all of them. A part is
        taken when the voxel agreement stays >= 99.5 %, no class's Dice to the truth moves by more
        than half of 0.005 (a margin: the cases are few) and it computed fewer windows than the
        baseline; the baseline needs the full bounds, else --fast is exact for this model.
        """);

    public static int Run(CommandLineArguments args, TextWriter output)
    {
        string modelPath = args.Required("model");
        string dataset = args.Required("dataset");
        string split = args.String("split")!;
        int maxCases = args.Int("cases", int.MaxValue);
        var names = args.String("names")?.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).ToHashSet();
        string destination = args.String("output") ?? modelPath;
        var compute = ComputeArguments.Read(args);
        args.EnsureAllUsed();
        compute.Validate();
        var cases = LabelledCase.Find(dataset, split).Where(c => names is null || names.Contains(c.Name)).Take(maxCases).ToList();
        if (names is not null && names.Except(cases.Select(c => c.Name)).FirstOrDefault() is { } missing)
            throw new UsageException($"--names: no labelled {split} case '{missing}' in {dataset}");
        if (cases.Count == 0) throw new UsageException($"--dataset {dataset}: no labelled {split} case to calibrate on");
        ModelFile.ReadMetadata(modelPath); // a PyTorch state dict has no metadata to write into: refused here, before any prediction

        var device = TorchRuntime.Configure(compute);
        FastModeDecision decision;
        using (var model = ModelFile.Load(modelPath, device))
        {
            int numClasses = model.Metadata.NumClasses;
            var exact = new SlidingWindowOptions { Patch = model.Metadata.Patch, Gaussian = true };
            var predictors = FastModeCalibration.Modes.ToDictionary(m => m, m => new CasePredictor(model, device, m.Apply(exact, device), model.Plan()));
            output.WriteLine($"model {modelPath}: {numClasses} classes, width {model.Metadata.BaseChannels}, patch {string.Join("x", model.Metadata.Patch)}; " +
                             $"{cases.Count} {split} case(s) of {dataset}; device {TorchRuntime.Describe(device)}");
            Volume? scan = null;
            LabelledCase? current = null;
            decision = FastModeCalibration.Decide(cases, numClasses, c => c.Truth(numClasses), (mode, c) =>
            {
                if (!ReferenceEquals(current, c)) (current, scan) = (c, ScanReader.Read(c.Scan));
                var prediction = predictors[mode].Predict(scan!, c.Scan);
                return (LabelledCase.ToBytes(LabelMap.ToLabels(prediction.Mask.Voxels, c.Scan), c.Scan, numClasses), prediction.Windows - prediction.SkippedWindows);
            });
        }
        WriteTable(decision, output);
        ModelFile.Rewrite(modelPath, destination, m => m with { FastParts = decision.Chosen });
        output.WriteLine($"fast mode for this model: {decision.Chosen} ({decision.Reason}); written to {destination}");
        return 0;
    }

    private static void WriteTable(FastModeDecision decision, TextWriter output)
    {
        output.WriteLine();
        output.WriteLine("| candidate | windows | seconds | voxel agreement | largest Dice change to truth | within bounds | with the margin |");
        output.WriteLine("|---|---:|---:|---:|---:|---|---|");
        static string YesNo(bool value) => value ? "yes" : "no";
        foreach (var c in decision.Candidates)
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {c.Mode} | {c.Windows} | {c.Seconds:F1} | {c.VoxelAgreement:P3} | {FastModeAgreement.Describe((c.DiceChangeClass, c.DiceChange))} | {(c.Mode == FastMode.Exact.ToString() ? "| " : $"{YesNo(c.WithinBounds)} | {YesNo(c.WithinMargin)}")} |"));
        output.WriteLine();
    }
}

/// <summary>A dataset's scan with its true labels (a test case, or a labelled training case).</summary>
internal sealed record LabelledCase(string Name, string Scan, string Label)
{
    /// <param name="split">test: imagesTs/ with labelsTs/ (every scan needs its label); train: imagesTr/ cases with a label in labelsTr/</param>
    public static IEnumerable<LabelledCase> Find(string dataset, string split)
    {
        var (images, labels, everyScanLabelled) = split switch
        {
            "test" => (Path.Combine(dataset, "imagesTs"), Path.Combine(dataset, "labelsTs"), true),
            "train" => (Path.Combine(dataset, "imagesTr"), Path.Combine(dataset, "labelsTr"), false),
            _ => throw new UsageException($"--split {split}: give test or train"),
        };
        if (!Directory.Exists(images) || !Directory.Exists(labels)) throw new UsageException($"--dataset {dataset}: needs {Path.GetFileName(images)}/ and {Path.GetFileName(labels)}/");
        foreach (string scan in CaseFiles.Find(images))
        {
            string name = MsdDataset.CaseName(scan);
            string label = Path.Combine(labels, name + ".nii.gz");
            if (File.Exists(label)) yield return new LabelledCase(name, scan, label);
            else if (everyScanLabelled) throw new UsageException($"{scan}: no label {label}");
        }
    }

    /// <summary>The true labels, checked against the scan's grid and the model's classes.</summary>
    public byte[] Truth(int numClasses)
    {
        var truth = ScanReader.Read(Label);
        var grid = ScanReader.ReadGeometry(Scan);
        if ((truth.SizeX, truth.SizeY, truth.SizeZ) != (grid.SizeX, grid.SizeY, grid.SizeZ)) throw new UsageException($"{Label}: its grid differs from the scan {Scan}");
        return ToBytes(LabelMap.ToLabels(truth.Voxels, Label), Label, numClasses);
    }

    public static byte[] ToBytes(int[] labels, string file, int numClasses)
    {
        var bytes = new byte[labels.Length];
        for (int i = 0; i < labels.Length; i++)
        {
            if (labels[i] >= numClasses) throw new UsageException($"{file}: label {labels[i]} is not a class of the model ({numClasses} classes)");
            bytes[i] = (byte)labels[i];
        }
        return bytes;
    }
}
