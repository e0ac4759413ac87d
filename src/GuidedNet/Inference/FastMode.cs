using GuidedNet.Models;
using static TorchSharp.torch;

namespace GuidedNet.Inference;

/// <summary>
/// Fast prediction: departures from exact prediction, each switchable and reported, whose effect
/// on the masks <c>guidednet bench agreement</c> measures (docs/performance.md, "Fast mode").
/// </summary>
/// <param name="LowPrecision">the network in bf16 (CPU with AVX-512 BF16 or AMX; CUDA), fp32 elsewhere</param>
/// <param name="SkipOutsideBody">windows wholly outside the body's box are not computed (exact inside the box)</param>
/// <param name="TileBody">the body's box is tiled on its own (far fewer windows with large patches; predictions inside change)</param>
/// <param name="CoarseOverlap">neighbouring windows share <see cref="CoarseOverlapFraction"/> of a patch instead of half</param>
public sealed record FastMode(bool LowPrecision, bool SkipOutsideBody, bool TileBody, bool CoarseOverlap)
{
    /// <summary>
    /// bf16 and skipping air: the parts that kept every class's Dice within 0.005 of exact
    /// prediction on every model measured, so what <c>--fast</c> takes on a model whose own
    /// cases never decided (<see cref="ModelMetadata.FastParts"/>). Tiling the body and the
    /// coarse overlap moved a class's Dice by 0.1 on one phantom model and by less than 0.005 on
    /// others (docs/performance.md, "Fast mode"), so only a model's calibration may add them.
    /// </summary>
    public static FastMode Baseline { get; } = new(true, true, false, false);

    /// <summary>
    /// What <c>--fast</c> asks for: the parts the model's calibration chose
    /// (<see cref="FastModeCalibration"/>), else <see cref="Baseline"/>. <see cref="ForModel"/> resolves it.
    /// </summary>
    public static FastMode Default { get; } = Baseline with { FollowsModel = true };

    /// <summary>Whether the parts are the model's to choose (<c>--fast</c>) rather than named.</summary>
    public bool FollowsModel { get; init; }

    /// <summary>The parts to run with this model: those its calibration chose when <see cref="FollowsModel"/>, else these.</summary>
    public FastMode ForModel(ModelMetadata metadata) =>
        !FollowsModel ? this : metadata.FastParts is { } parts ? Parse(parts) with { FollowsModel = true, FromCalibration = true } : Baseline with { FollowsModel = true };

    /// <summary>Whether <see cref="ForModel"/> took these parts from the model's calibration.</summary>
    public bool FromCalibration { get; init; }

    /// <summary>Every part (<c>all</c>).</summary>
    public static FastMode All { get; } = new(true, false, true, true);

    public static FastMode Exact { get; } = new(false, false, false, false);

    /// <summary>A quarter of a patch: 8/27 of the windows of 50% overlap on a large volume, still with overlap for the Gaussian to blend.</summary>
    public const double CoarseOverlapFraction = 0.25;

    /// <summary>The names of the parts on the command line, in the order they are reported.</summary>
    public static IReadOnlyList<string> PartNames { get; } = ["bf16", "body", "crop", "overlap"];

    public bool IsExact => !LowPrecision && !SkipOutsideBody && !TileBody && !CoarseOverlap;

    /// <summary>
    /// Part names joined by ',' or '+' (<c>bf16,body</c>), <c>fast</c> (the model's parts,
    /// <see cref="Default"/>), <c>all</c> or <c>exact</c> (none). <c>crop</c> includes <c>body</c>.
    /// </summary>
    public static FastMode Parse(string parts)
    {
        var names = parts.Split([',', '+'], StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (names.Length == 1 && names[0] == "all") return All;
        if (names.Length == 1 && names[0] == "fast") return Default;
        if (names.Length == 1 && names[0] == "exact") return Exact;
        var unknown = names.Except(PartNames).ToList();
        if (names.Length == 0 || unknown.Count > 0)
            throw new ArgumentException($"fast mode parts '{parts}': give 'fast', 'all', 'exact' or a comma list of {string.Join(", ", PartNames)}");
        bool crop = names.Contains("crop");
        return new FastMode(names.Contains("bf16"), names.Contains("body") && !crop, crop, names.Contains("overlap"));
    }

    private bool[] Parts => [LowPrecision, SkipOutsideBody, TileBody, CoarseOverlap];

    /// <summary>The parts' names (<c>bf16+body</c>), <c>exact</c> or <c>all</c>; <c>fast</c> for <see cref="Default"/> itself (the model's choice, unresolved).</summary>
    public override string ToString() =>
        ReferenceEquals(this, Default) ? "fast"
        : IsExact ? "exact" : AreParts(All) ? "all" : string.Join("+", PartNames.Where((_, i) => Parts[i]));

    /// <summary>Same parts, whoever chose them.</summary>
    public bool AreParts(FastMode other) => Parts.SequenceEqual(other.Parts);

    /// <summary>
    /// The options with this mode's parts applied. A precision or overlap the user chose
    /// (<paramref name="precisionChosen"/>, <paramref name="overlapChosen"/>) is kept.
    /// </summary>
    public SlidingWindowOptions Apply(SlidingWindowOptions options, Device device, bool precisionChosen = false, bool overlapChosen = false) => options with
    {
        Overlap = CoarseOverlap && !overlapChosen && options.Stride is null ? CoarseOverlapFraction : options.Overlap,
        Precision = LowPrecision && !precisionChosen ? InferencePrecisions.FastestOn(device) : options.Precision,
        Coverage = TileBody ? WindowCoverage.TileBody : SkipOutsideBody ? WindowCoverage.SkipOutsideBody : options.Coverage,
    };

    /// <summary>What the options do that exact prediction does not, for the log; says when a part asked for cannot be had here.</summary>
    public static string Describe(SlidingWindowOptions options, FastMode asked, Device device)
    {
        var parts = new List<string>();
        if (options.Precision != InferencePrecision.Float32)
            parts.Add($"{options.Precision.Name()} network{(options.Precision.IsFastOn(device) ? "" : " (emulated on this device: slower than fp32)")}");
        else if (asked.LowPrecision)
            parts.Add("fp32 network (this CPU has no AVX-512 BF16 or AMX: bf16 would be slower)");
        if (options.Coverage == WindowCoverage.SkipOutsideBody) parts.Add("windows in air skipped");
        if (options.Coverage == WindowCoverage.TileBody) parts.Add("the body's box tiled on its own");
        if (asked.CoarseOverlap) parts.Add(options.Stride is null ? $"overlap {options.Overlap:0.##}" : "the stride given");
        string why = !asked.FollowsModel ? "" : asked.FromCalibration ? " (fast: the parts the model's calibration chose)" : " (fast: the model has no calibration; bf16 and air only)";
        return (parts.Count == 0 ? "exact" : string.Join(", ", parts)) + why;
    }
}
