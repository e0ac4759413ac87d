using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using GuidedNet.Imaging;
using GuidedNet.Imaging.Geometry;
using GuidedNet.Imaging.Nifti;
using GuidedNet.Imaging.Preprocessing;
using GuidedNet.Training;

namespace GuidedNet.Data;

/// <summary>Which cases a run trains and validates on.</summary>
public sealed record DatasetSplit(IReadOnlyList<DatasetCase> Labeled, IReadOnlyList<DatasetCase> Unlabeled, IReadOnlyList<DatasetCase> Validation)
{
    /// <summary>
    /// Deterministic split: validation cases are drawn from the labeled cases first and never
    /// trained on; then <c>--labeled N</c> / <c>--labeled-fraction F</c> (of all training cases)
    /// of the remaining labeled cases keep their labels, and the rest join the unlabeled pool
    /// with their labels hidden (the paper's 10% / 50% settings).
    /// </summary>
    public static DatasetSplit Create(MsdDataset dataset, TrainingOptions options)
    {
        var labeled = dataset.Labeled.ToList();
        if (labeled.Count == 0) throw new InvalidDataException($"{dataset.Folder}: no case in imagesTr has a label in labelsTr");
        List<DatasetCase> validation;
        if (options.ValidationCases is { Length: > 0 } names)
        {
            var unknown = names.Except(labeled.Select(c => c.Name)).ToList();
            if (unknown.Count > 0) throw new ArgumentException($"validation cases without labels or not in the dataset: {string.Join(", ", unknown)}");
            validation = labeled.Where(c => names.Contains(c.Name)).ToList();
        }
        else
        {
            int count = (int)Math.Round(options.ValidationFraction * labeled.Count);
            count = Math.Min(count, labeled.Count - 1);
            var order = new DeterministicRandom(options.Seed, 10).Permutation(labeled.Count);
            validation = order.Take(count).Select(i => labeled[i]).OrderBy(c => c.Name, StringComparer.Ordinal).ToList();
        }
        var remaining = labeled.Except(validation).ToList();
        int total = remaining.Count + dataset.Unlabeled.Count();
        int keep = options.LabeledCases ?? (options.LabeledFraction is { } f ? Math.Max(1, (int)Math.Round(f * total)) : remaining.Count);
        if (keep > remaining.Count)
            throw new ArgumentException($"{keep} labeled cases asked for, but only {remaining.Count} labeled cases remain after {validation.Count} validation cases");
        var pick = new DeterministicRandom(options.Seed, 11).Permutation(remaining.Count);
        var chosen = pick.Take(keep).Select(i => remaining[i]).OrderBy(c => c.Name, StringComparer.Ordinal).ToList();
        var hidden = remaining.Except(chosen).Select(c => c with { LabelPath = null });
        var unlabeled = dataset.Unlabeled.Concat(hidden).OrderBy(c => c.Name, StringComparer.Ordinal).ToList();
        return new DatasetSplit(chosen, unlabeled, validation);
    }
}

/// <summary>
/// Preprocessed training data. The plan comes from the preset (FLARE22's fixed statistics) or
/// from the data as nnU-Net does it (median spacing; intensity statistics of the labeled
/// foreground of the labeled training cases, gathered one case at a time). Preprocessed cases are
/// cached on disk under a fingerprint of the plan, so later runs with the same plan read them
/// instead of recomputing, and training reads its patches from there
/// (<see cref="TrainingCase.Cached"/>): its memory does not grow with the number of cases.
/// </summary>
public sealed class TrainingData
{
    private TrainingData(PreprocessingPlan plan, int numClasses, IReadOnlyList<TrainingCase> labeled, IReadOnlyList<TrainingCase> unlabeled,
        IReadOnlyList<TrainingCase> validation, DatasetSplit split)
    {
        Plan = plan;
        NumClasses = numClasses;
        Labeled = labeled;
        Unlabeled = unlabeled;
        Validation = validation;
        Split = split;
    }

    public PreprocessingPlan Plan { get; }
    public int NumClasses { get; }
    public IReadOnlyList<TrainingCase> Labeled { get; }
    public IReadOnlyList<TrainingCase> Unlabeled { get; }
    public IReadOnlyList<TrainingCase> Validation { get; }
    public DatasetSplit Split { get; }

    /// <summary>Cases already in the model grid (benchmarks, tests), in memory or cached: no dataset folder, no planning.</summary>
    public static TrainingData FromCases(int numClasses, IReadOnlyList<TrainingCase> labeled, IReadOnlyList<TrainingCase> unlabeled,
        IReadOnlyList<TrainingCase> validation) =>
        new(PreprocessingPlan.Raw with { NumClasses = numClasses }, numClasses, labeled, unlabeled, validation,
            new DatasetSplit(Array.Empty<DatasetCase>(), Array.Empty<DatasetCase>(), Array.Empty<DatasetCase>()));

    public static TrainingData Prepare(MsdDataset dataset, TrainingOptions options, string cacheFolder, TextWriter? log = null)
    {
        var split = DatasetSplit.Create(dataset, options);
        int numClasses = options.NumClasses ?? (dataset.LabelNames.Count > 0 ? dataset.LabelNames.Keys.Max() + 1 : 0);
        var plan = CachedPlan(dataset, split, options, cacheFolder, ref numClasses);
        string fingerprint = Hash(PlanJson(plan));
        string folder = Path.Combine(cacheFolder, fingerprint);
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "plan.json"), PlanJson(plan));

        var preprocessor = new CasePreprocessor(plan);
        int done = 0, total = split.Labeled.Count + split.Unlabeled.Count + split.Validation.Count;
        TrainingCase Load(DatasetCase c)
        {
            var result = LoadOrPreprocess(c, preprocessor, numClasses, folder);
            int n = Interlocked.Increment(ref done);
            log?.WriteLine($"  preprocessed {n}/{total}: {c.Name} ({result.Depth}x{result.Height}x{result.Width})");
            return result;
        }
        var labeled = split.Labeled.Select(Load).ToList();
        var unlabeled = split.Unlabeled.Select(c => Load(c).WithoutLabels()).ToList();
        var validation = split.Validation.Select(Load).ToList();
        return new TrainingData(plan, numClasses, labeled, unlabeled, validation, split);
    }

    /// <summary>
    /// The plan for this split, computed once: planning reads every labeled case (statistics) and
    /// every header (spacing), so the result is kept under a key of the preset, class count and the
    /// split's files (names, sizes, modification times) and reused while none of them changes.
    /// </summary>
    private static PreprocessingPlan CachedPlan(MsdDataset dataset, DatasetSplit split, TrainingOptions options, string cacheFolder, ref int numClasses)
    {
        var files = split.Labeled.SelectMany(c => new[] { c.ImagePath, c.LabelPath! }).Concat(split.Unlabeled.Select(c => c.ImagePath))
            .Select(f => new FileInfo(f)).Select(f => $"{f.FullName}|{f.Length}|{f.LastWriteTimeUtc.Ticks}");
        string key = Hash(string.Join("\n", new[] { options.Preset, numClasses.ToString(System.Globalization.CultureInfo.InvariantCulture), dataset.Modality ?? "", options.Normalization }.Concat(files)));
        string path = Path.Combine(cacheFolder, "plans", key + ".json");
        if (File.Exists(path))
        {
            var cached = PlanFromJson(File.ReadAllText(path));
            numClasses = cached.NumClasses ?? numClasses;
            return cached;
        }
        var plan = BuildPlan(dataset, split, options, ref numClasses) with { NumClasses = numClasses };
        AtomicFile.WriteAllText(path, PlanJson(plan));
        return plan;
    }

    private static PreprocessingPlan BuildPlan(MsdDataset dataset, DatasetSplit split, TrainingOptions options, ref int numClasses)
    {
        if (options.Preset == "flare22") return PreprocessingPlan.Flare22;
        var baseline = options.Preset == "amos" ? PreprocessingPlan.Amos : new PreprocessingPlan { Name = "auto", ReorientToCanonical = true };

        // One pass, one case in memory at a time: the label range, how much of each image is
        // non-zero, and a bounded sample of the labeled foreground's intensities.
        int maxLabel = 0;
        double nonzeroFraction = 0;
        var foreground = new ForegroundIntensities();
        foreach (var c in split.Labeled)
        {
            var (image, label) = MsdDataset.Load(c, int.MaxValue);
            int caseMax = (int)label!.Voxels.Max();
            if (numClasses > 0 && caseMax >= numClasses)
                throw new InvalidDataException($"{c.LabelPath}: label {caseMax} exceeds the {numClasses} classes");
            maxLabel = Math.Max(maxLabel, caseMax);
            nonzeroFraction += image.Voxels.Count(v => v != 0) / (double)image.Voxels.Length / split.Labeled.Count;
            foreground.Add(image, label);
        }
        if (numClasses == 0) numClasses = maxLabel + 1;
        // nnU-Net's rule (channel_names): CT keeps dataset-wide statistics of the labeled foreground,
        // any other modality is z-scored per case.
        var perCase = options.Preset != "auto" ? null : options.Normalization switch
        {
            "auto" => PerCaseNormalization.ForModality(dataset.Modality, nonzeroFraction),
            var scheme => PerCaseNormalization.FromScheme(scheme),
        };
        var normalization = perCase is null ? foreground.ToNormalization() : null;

        var spacing = baseline.TargetSpacing;
        if (spacing is null)
        {
            var spacings = split.Labeled.Concat(split.Unlabeled).Select(c => CanonicalSpacing(ScanReader.ReadGeometry(c.ImagePath).Affine)).ToList();
            double Median(Func<Vector3d, double> axis) => spacings.Select(axis).Order().ElementAt(spacings.Count / 2);
            spacing = new Vector3d(Median(s => s.X), Median(s => s.Y), Median(s => s.Z));
        }
        return baseline with { NumClasses = numClasses, TargetSpacing = spacing, Normalization = normalization, PerCaseNormalization = perCase };
    }

    /// <summary>Spacing along R, A, S after canonical reorientation.</summary>
    private static Vector3d CanonicalSpacing(Affine affine)
    {
        var r = AxisReorientation.ToCanonical(affine);
        var s = affine.Spacing;
        return new Vector3d(s[r.SourceAxis[0]], s[r.SourceAxis[1]], s[r.SourceAxis[2]]);
    }

    /// <summary>
    /// The case's preprocessed files in the cache (written here the first time), as a case read
    /// from them patch by patch: nothing of it stays in memory.
    /// </summary>
    private static TrainingCase LoadOrPreprocess(DatasetCase c, CasePreprocessor preprocessor, int numClasses, string folder)
    {
        string imagePath = Path.Combine(folder, c.Name + ".nii");
        string labelPath = Path.Combine(folder, c.Name + "_seg.nii");
        if (!File.Exists(imagePath) || (c.LabelPath is not null && !File.Exists(labelPath)))
        {
            var (image, label) = MsdDataset.Load(c, numClasses);
            var prepared = preprocessor.Prepare(image);
            if (label is not null) NiftiWriter.Write(labelPath, preprocessor.PrepareLabels(label), NiftiDataType.UInt8);
            NiftiWriter.Write(imagePath, prepared.Image, NiftiDataType.Float32);
        }
        return TrainingCase.Cached(c.Name, imagePath, c.LabelPath is null ? null : labelPath);
    }

    public static string PlanJson(PreprocessingPlan plan) => JsonSerializer.Serialize(new
    {
        name = plan.Name,
        numClasses = plan.NumClasses,
        reorient = plan.ReorientToCanonical,
        spacing = plan.TargetSpacing is { } s ? new[] { s.X, s.Y, s.Z } : null,
        interpolation = plan.ImageInterpolation.ToString(),
        normalization = plan.Normalization is { } n ? new[] { n.ClipLow, n.ClipHigh, n.Mean, n.StandardDeviation } : null,
        normalizationScheme = plan.NormalizationScheme,
    }, new JsonSerializerOptions { WriteIndented = true });

    /// <summary>The inverse of <see cref="PlanJson"/>.</summary>
    public static PreprocessingPlan PlanFromJson(string json)
    {
        using var doc = JsonDocument.Parse(json);
        var r = doc.RootElement;
        double[]? Numbers(string name) => r.TryGetProperty(name, out var e) && e.ValueKind == JsonValueKind.Array
            ? e.EnumerateArray().Select(x => x.GetDouble()).ToArray()
            : null;
        var spacing = Numbers("spacing");
        var normalization = Numbers("normalization");
        return new PreprocessingPlan
        {
            Name = r.GetProperty("name").GetString()!,
            NumClasses = r.TryGetProperty("numClasses", out var k) && k.ValueKind == JsonValueKind.Number ? k.GetInt32() : null,
            ReorientToCanonical = r.GetProperty("reorient").GetBoolean(),
            TargetSpacing = spacing is null ? null : new Vector3d(spacing[0], spacing[1], spacing[2]),
            ImageInterpolation = Enum.Parse<Interpolation>(r.GetProperty("interpolation").GetString()!),
            Normalization = normalization is null ? null : new IntensityNormalization(normalization[0], normalization[1], normalization[2], normalization[3]),
            PerCaseNormalization = PerCaseNormalization.FromScheme(
                r.TryGetProperty("normalizationScheme", out var scheme) && scheme.ValueKind == JsonValueKind.String ? scheme.GetString() : null),
        };
    }

    private static string Hash(string text) =>
        Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..12].ToLowerInvariant();
}
