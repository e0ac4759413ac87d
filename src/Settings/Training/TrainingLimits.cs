namespace GuidedNet.Training;

/// <summary>
/// The bounds a training run is held to, wherever its settings come from (command line, HTTP
/// request, job message). They keep one careless or hostile request from running for days or
/// asking for more memory than any GPU has; the paper's recipe sits far inside every one of them.
/// </summary>
public static class TrainingLimits
{
    /// <summary>Spatial patch sizes are multiples of this: the U-Net halves the resolution four times.</summary>
    public const int SizeMultiple = 16;

    /// <summary>50× the paper's 20,000 iterations.</summary>
    public const int MaxIterations = 1_000_000;

    /// <summary>Longest patch edge in voxels.</summary>
    public const int MaxPatchEdge = 512;

    /// <summary>Voxels of one patch: 256³, 16× the paper's 64×128×128.</summary>
    public const long MaxPatchVoxels = 256L * 256 * 256;

    public const int MaxBatch = 64;

    /// <summary>Voxels of one batch (batch × patch): 8× the paper's 8 × 64×128×128.</summary>
    public const long MaxBatchVoxels = 1L << 26;

    /// <summary>Network width: 4× the paper's 16 (memory and compute grow with its square).</summary>
    public const int MaxBaseChannels = 64;

    /// <summary>Classes including background; labels are stored as integers of at most one byte.</summary>
    public const int MaxClasses = 256;

    public const int MaxLabeledCases = 100_000;

    /// <summary>Ramp, validation and checkpoint intervals, in iterations.</summary>
    public const int MaxInterval = MaxIterations;
}

/// <summary>
/// A training setting out of bounds. <see cref="Field"/> is the setting's name as the HTTP request
/// spells it (camelCase); callers with their own spelling (the command line's <c>--kebab-case</c>)
/// translate it. The message never repeats the offending value: it may be megabytes long, and it
/// comes back in an HTTP answer.
/// </summary>
public sealed class TrainingSettingException(string field, string rule) : ArgumentException($"{field}: {rule}")
{
    public string Field { get; } = field;

    public string Rule { get; } = rule;
}
