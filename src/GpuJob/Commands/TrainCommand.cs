using GuidedNet.Data;
using GuidedNet.GpuJob.Cli;
using GuidedNet.Runtime;
using GuidedNet.Training;

namespace GuidedNet.GpuJob.Commands;

/// <summary><c>guidednet train</c>: an MSD dataset in, a trained GuidedNet model file out.</summary>
public static class TrainCommand
{
    public static readonly CommandSpec Spec = new("guidednet train --dataset DIR --out DIR [options]", CommandSpec.With(
    [
        new("dataset", "DIR", "an MSD / nnU-Net dataset folder: dataset.json, imagesTr/, labelsTr/ (images without labels are the unlabeled pool)"),
        new("out", "DIR", "where the model, training.json, curves.png and checkpoints are written"),
        new("preset", "P", $"{string.Join(" | ", TrainingOptions.Presets)}: auto plans spacing and intensity statistics from the data", Default: "auto"),
        new("mode", "M", string.Join(" | ", TrainingOptions.Modes), DefaultText: ByPreset(o => o.Mode.ToString().ToLowerInvariant())),
        new("labeled", "N", "labeled cases to train with (the rest of the labels are hidden)", DefaultText: "all"),
        new("labeled-fraction", "F", "or that fraction of the training cases (the paper's 0.1 / 0.5)"),
        new("val-fraction", "F", "labeled cases held out for validation; or --val-cases", DefaultText: ByPreset(o => o.ValidationFraction)),
        new("val-cases", "A,B", "the validation cases by name"),
        new("iterations", "N", "training iterations", DefaultText: ByPreset(o => o.Iterations)),
        new("patch", "D,H,W", "training patch in voxels, z,y,x", DefaultText: ByPreset(o => string.Join(",", o.Patch))),
        new("batch", "B", "patches per iteration", DefaultText: ByPreset(o => o.BatchSize) + "; supervised mode: the labeled batch"),
        new("labeled-batch", "L", "labeled patches per iteration", DefaultText: ByPreset(o => o.LabeledBatchSize)),
        new("base-channels", "C", "network width (the paper's is 16)", DefaultText: ByPreset(o => o.BaseChannels)),
        new("lr", "F", "base learning rate", DefaultText: ByPreset(o => o.BaseLearningRate)),
        new("rampup-iterations", "N", "consistency/CPS ramp length (the reference's iteration//150 over 200 epochs)", DefaultText: ByPreset(o => o.RampupIterations)),
        new("classes", "K", "classes including background", DefaultText: "from dataset.json"),
        new("validate-every", "N", "iterations between validations", DefaultText: ByPreset(o => o.ValidateEvery)),
        new("checkpoint-every", "N", "iterations between checkpoints", DefaultText: ByPreset(o => o.CheckpointEvery)),
        new("foreground-fraction", "F", "labeled patches centred on a voxel of a class present in the case, each present class equally often (the reference presets' uniform crops are 0)",
            DefaultText: ByPreset(o => Math.Round(o.ForegroundFraction, 4))),
        new("normalization", "N", $"{string.Join(" | ", TrainingOptions.Normalizations)} (auto preset): auto chooses by the modality in dataset.json's channel_names, CT dataset-wide, others per case",
            DefaultText: ByPreset(o => o.Normalization)),
        new("augmentation", "A", $"{string.Join(" | ", AugmentationOptions.Names)}: nnU-Net's rotation, scaling, noise, blur, brightness, contrast, low resolution, gamma and mirroring, or the authors' rot90 + flip",
            DefaultText: ByPreset(o => o.Augmentation.IsEnabled ? "nnunet" : "reference")),
        new("precision", "P", $"{string.Join(" | ", TrainingOptions.Precisions)}: the training step's number format; bf16 computes on bf16 copies of fp32 master weights (CPUs with AVX-512 BF16, GPUs); tf32 is CUDA's (docs/performance.md, \"Training precision\")",
            DefaultText: ByPreset(o => o.Precision)),
        new("seed", "S", "random seed", DefaultText: ByPreset(o => o.Seed)),
        new("no-fast-calibration", null, "do not measure on the validation cases which fast-prediction parts the model keeps within bounds (then --fast takes bf16 and skipping air)"),
        new("cache", "DIR", "preprocessed-data cache", DefaultText: "<dataset>_preprocessed beside the dataset"),
        new("resume", null, "continue from <out>/checkpoint.zip"),
    ], ComputeArguments.Options), "Writes <out>/model.guidednet (best validation Dice), training.json, curves.png, checkpoint.zip.");

    /// <summary>A default as the presets set it: one value when they agree, else each preset's.</summary>
    private static string ByPreset<T>(Func<TrainingOptions, T> setting)
    {
        var values = TrainingOptions.Presets.Select(p => (Preset: p, Value: FormattableString.Invariant($"{setting(TrainingOptions.FromPreset(p))}"))).ToList();
        return values.Select(v => v.Value).Distinct().Count() == 1 ? values[0].Value
            : string.Join(", ", values.GroupBy(v => v.Value).Select(g => $"{g.Key} for {string.Join("/", g.Select(v => v.Preset))}"));
    }

    public static int Run(CommandLineArguments args, TextWriter output, CancellationToken cancellation = default)
    {
        string datasetFolder = args.Required("dataset");
        string outFolder = args.Required("out");
        var options = Checked(() => TrainingOptions.FromPreset(args.String("preset")!));
        string? mode = args.String("mode");
        options = options with
        {
            Mode = mode is null ? options.Mode : Checked(() => TrainingOptions.ParseMode(mode)),
            LabeledCases = args.Has("labeled") ? args.Int("labeled", 0) : null,
            LabeledFraction = args.Has("labeled-fraction") ? args.Double("labeled-fraction", 0) : null,
            ValidationFraction = args.Double("val-fraction", options.ValidationFraction),
            ValidationCases = args.String("val-cases")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
            Iterations = args.Int("iterations", options.Iterations),
            Patch = args.Triple("patch") ?? options.Patch,
            BatchSize = args.Int("batch", options.BatchSize),
            LabeledBatchSize = args.Int("labeled-batch", options.LabeledBatchSize),
            BaseChannels = args.Int("base-channels", options.BaseChannels),
            BaseLearningRate = args.Double("lr", options.BaseLearningRate),
            RampupIterations = args.Int("rampup-iterations", options.RampupIterations),
            NumClasses = args.Has("classes") ? args.Int("classes", 0) : options.NumClasses,
            ValidateEvery = args.Int("validate-every", options.ValidateEvery),
            CheckpointEvery = args.Int("checkpoint-every", options.CheckpointEvery),
            ForegroundFraction = args.Double("foreground-fraction", options.ForegroundFraction),
            Normalization = args.String("normalization") ?? options.Normalization,
            Augmentation = args.String("augmentation") is { } augmentation ? Checked(() => AugmentationOptions.FromName(augmentation)) : options.Augmentation,
            Seed = args.Int("seed", (int)options.Seed),
            Precision = args.String("precision") ?? options.Precision,
            CalibrateFastMode = !args.Flag("no-fast-calibration"),
        };
        if (options.Mode == TrainingMode.Supervised && !args.Has("batch")) options = options with { BatchSize = options.LabeledBatchSize };
        var compute = ComputeArguments.Read(args);
        string cache = args.String("cache") ?? Path.GetFullPath(datasetFolder).TrimEnd('/') + "_preprocessed";
        bool resume = args.Flag("resume");
        args.EnsureAllUsed();
        Checked(() => options.Validate());

        var device = TorchRuntime.Configure(compute);
        var dataset = MsdDataset.Open(datasetFolder);
        output.WriteLine($"dataset {datasetFolder}: {dataset.Labeled.Count()} labeled, {dataset.Unlabeled.Count()} unlabeled training cases");
        var data = TrainingData.Prepare(dataset, options, cache, output);
        output.WriteLine($"split: {data.Labeled.Count} labeled, {data.Unlabeled.Count} unlabeled, {data.Validation.Count} validation; " +
                         $"{data.NumClasses} classes; plan '{data.Plan.Name}' spacing {data.Plan.TargetSpacing}; device {TorchRuntime.Describe(device)}");
        if (device.type == TorchSharp.DeviceType.CPU && NativeAllocator.Active == NativeAllocator.Glibc && NativeAllocator.FindTcmalloc() is { } tcmalloc)
            output.WriteLine($"allocator: glibc; CPU training peaks ~1.5x lower in memory and runs faster under tcmalloc: LD_PRELOAD={tcmalloc} guidednet train ...");
        output.WriteLine($"{options.Mode}: {options.Iterations} iterations, patch {string.Join("x", options.Patch)}, batch {options.BatchSize} " +
                         $"({options.LabeledBatchSize} labeled), width {options.BaseChannels}, lr {options.BaseLearningRate}");

        using var trainer = new Trainer(options, data, device, outFolder, dataset.LabelNames);
        var progress = new TrainingConsoleProgress(output);
        var result = trainer.Run(resume, progress, cancellation);
        progress.Flush();
        if (!result.Completed)
        {
            output.WriteLine($"stopped at iteration {result.Iterations}; checkpoint saved — continue with --resume");
            return 130;
        }
        if (result.FastMode is { } fast)
            output.WriteLine($"fast mode for this model: {fast.Chosen}, decided on {fast.Cases} validation case(s): {fast.Reason} (training.json: fastMode)");
        output.WriteLine($"done: {result.ModelPath} (best validation mean Dice {result.BestMeanDice?.ToString("F4") ?? "n/a"} at iteration {result.BestIteration})");
        return 0;
    }

    private static void Checked(Action check) => Checked(() => { check(); return 0; });

    /// <summary>A setting out of bounds as a usage error naming the command line's flag for it.</summary>
    private static T Checked<T>(Func<T> read)
    {
        try
        {
            return read();
        }
        catch (TrainingSettingException e)
        {
            throw new UsageException($"{FlagOf(e.Field)}: {e.Rule}");
        }
    }

    /// <summary>The flag of a setting the validation names in the request's camelCase.</summary>
    private static string FlagOf(string field) => field switch
    {
        "validationFraction" => "--val-fraction",
        "numClasses" => "--classes",
        "learningRate" => "--lr",
        _ => "--" + string.Concat(field.Select(c => char.IsUpper(c) ? "-" + char.ToLowerInvariant(c) : c.ToString())),
    };

    /// <summary>A progress line every few seconds: iteration, each loss term, lr, it/s, ETA, last validation Dice.</summary>
    private sealed class TrainingConsoleProgress(TextWriter output) : IProgress<TrainingProgress>
    {
        private DateTime _last = DateTime.MinValue;
        private TrainingProgress? _pending;

        public void Report(TrainingProgress p)
        {
            _pending = p;
            if (p.Iteration != p.Total && DateTime.UtcNow - _last < TimeSpan.FromSeconds(3)) return;
            Flush();
        }

        public void Flush()
        {
            if (_pending is not { } p) return;
            _last = DateTime.UtcNow;
            _pending = null;
            string losses = string.Join(" ", p.Losses.Select(kv => $"{kv.Key} {kv.Value:F4}"));
            string val = p.LastValidationDice is { } d ? $" | val Dice {d:F4}" : "";
            output.WriteLine($"it {p.Iteration}/{p.Total} | {losses} | lr {p.LearningRate:F5} | {p.IterationsPerSecond:F2} it/s | ETA {p.Remaining:hh\\:mm\\:ss}{val}");
        }
    }
}
