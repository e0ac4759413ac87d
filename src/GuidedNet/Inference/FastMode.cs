using static TorchSharp.torch;

namespace GuidedNet.Inference;

/// <summary>
/// Fast prediction: three departures from exact prediction, each switchable and reported, whose
/// effect on the masks <c>guidednet bench agreement</c> measures (docs/performance.md, "Fast mode").
/// </summary>
/// <param name="LowPrecision">the network in bf16 (CPU with AVX-512 BF16 or AMX; CUDA), fp32 elsewhere</param>
/// <param name="SkipOutsideBody">the windows tile the body's bounding box, not the whole field of view</param>
/// <param name="CoarseOverlap">neighbouring windows share <see cref="CoarseOverlapFraction"/> of a patch instead of half</param>
public sealed record FastMode(bool LowPrecision, bool SkipOutsideBody, bool CoarseOverlap)
{
    /// <summary>
    /// What <c>--fast</c> means: bf16 and skipping air. The coarse overlap is not in it: on the
    /// phantom model it moved a class's Dice by 0.31 (docs/performance.md, "Fast mode").
    /// </summary>
    public static FastMode Default { get; } = new(true, true, false);

    /// <summary>Every part (<c>all</c>).</summary>
    public static FastMode All { get; } = new(true, true, true);

    public static FastMode Exact { get; } = new(false, false, false);

    /// <summary>A quarter of a patch: 8/27 of the windows of 50% overlap on a large volume, still with overlap for the Gaussian to blend.</summary>
    public const double CoarseOverlapFraction = 0.25;

    /// <summary>The names of the parts on the command line, in the order they are reported.</summary>
    public static IReadOnlyList<string> PartNames { get; } = ["bf16", "body", "overlap"];

    public bool IsExact => this == Exact;

    /// <summary>Part names joined by ',' or '+' (<c>bf16,body</c>), <c>fast</c> (the default parts) or <c>all</c>.</summary>
    public static FastMode Parse(string parts)
    {
        var names = parts.Split([',', '+'], StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (names.Length == 1 && names[0] == "all") return All;
        if (names.Length == 1 && names[0] == "fast") return Default;
        var unknown = names.Except(PartNames).ToList();
        if (names.Length == 0 || unknown.Count > 0)
            throw new ArgumentException($"fast mode parts '{parts}': give 'fast', 'all' or a comma list of {string.Join(", ", PartNames)}");
        return new FastMode(names.Contains("bf16"), names.Contains("body"), names.Contains("overlap"));
    }

    public override string ToString() =>
        IsExact ? "exact" : this == Default ? "fast" : this == All ? "all" : string.Join("+", PartNames.Where((_, i) => i switch { 0 => LowPrecision, 1 => SkipOutsideBody, _ => CoarseOverlap }));

    /// <summary>
    /// The options with this mode's parts applied. A precision or overlap the user chose
    /// (<paramref name="precisionChosen"/>, <paramref name="overlapChosen"/>) is kept.
    /// </summary>
    public SlidingWindowOptions Apply(SlidingWindowOptions options, Device device, bool precisionChosen = false, bool overlapChosen = false) => new()
    {
        Patch = options.Patch,
        Stride = options.Stride,
        Overlap = CoarseOverlap && !overlapChosen && options.Stride is null ? CoarseOverlapFraction : options.Overlap,
        Gaussian = options.Gaussian,
        MirrorTta = options.MirrorTta,
        WindowsPerBatch = options.WindowsPerBatch,
        Precision = LowPrecision && !precisionChosen ? InferencePrecisions.FastestOn(device) : options.Precision,
        SkipOutsideBody = options.SkipOutsideBody || SkipOutsideBody,
    };

    /// <summary>What the options do that exact prediction does not, for the log; says when a part asked for cannot be had here.</summary>
    public static string Describe(SlidingWindowOptions options, FastMode asked, Device device)
    {
        var parts = new List<string>();
        if (options.Precision != InferencePrecision.Float32)
            parts.Add($"{options.Precision.Name()} network{(options.Precision.IsFastOn(device) ? "" : " (emulated on this device: slower than fp32)")}");
        else if (asked.LowPrecision)
            parts.Add("fp32 network (this CPU has no AVX-512 BF16 or AMX: bf16 would be slower)");
        if (options.SkipOutsideBody) parts.Add("windows over the body only");
        if (asked.CoarseOverlap) parts.Add(options.Stride is null ? $"overlap {options.Overlap:0.##}" : "the stride given");
        return parts.Count == 0 ? "exact" : string.Join(", ", parts);
    }
}
