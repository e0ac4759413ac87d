namespace GuidedNet.Imaging.Preprocessing;

/// <summary>
/// Z-score per case, for channels that are not CT (nnU-Net's rule for MR and the like: their
/// intensity scale differs between scanners and subjects, so no dataset-wide statistics exist).
/// With <paramref name="NonZeroRegion"/> the mean and standard deviation come from the voxels
/// that are not zero (the imaged body or a skull-stripped brain) and the zero voxels stay zero, as
/// nnU-Net does when most of the field of view is empty.
/// </summary>
public sealed record PerCaseNormalization(bool NonZeroRegion)
{
    /// <summary>The plan's and the model file's spelling.</summary>
    public string Scheme => NonZeroRegion ? ZScoreNonZeroScheme : ZScoreScheme;

    public const string CtScheme = "ct";
    public const string ZScoreScheme = "zscore";
    public const string ZScoreNonZeroScheme = "zscore-nonzero";

    /// <summary>The per-case scheme of a name, null for <see cref="CtScheme"/> or none.</summary>
    public static PerCaseNormalization? FromScheme(string? scheme) => scheme switch
    {
        null or CtScheme => null,
        ZScoreScheme => new PerCaseNormalization(false),
        ZScoreNonZeroScheme => new PerCaseNormalization(true),
        _ => throw new ArgumentException($"unknown normalisation scheme '{scheme}' (expected {CtScheme}, {ZScoreScheme} or {ZScoreNonZeroScheme})"),
    };

    /// <summary>
    /// The normalised voxels. A constant case (standard deviation 0) is only centred, as nnU-Net
    /// guards its division with a floor of 1e-8.
    /// </summary>
    public float[] Apply(float[] voxels)
    {
        double sum = 0, sumOfSquares = 0;
        long count = 0;
        foreach (float v in voxels)
        {
            if (NonZeroRegion && v == 0) continue;
            sum += v;
            sumOfSquares += (double)v * v;
            count++;
        }
        var result = new float[voxels.LongLength];
        if (count == 0) return result;
        double mean = sum / count;
        double std = Math.Sqrt(Math.Max(0, sumOfSquares / count - mean * mean));
        float m = (float)mean, scale = (float)(1 / Math.Max(std, 1e-8));
        for (long i = 0; i < voxels.LongLength; i++)
            result[i] = NonZeroRegion && voxels[i] == 0 ? 0 : (voxels[i] - m) * scale;
        return result;
    }

    /// <summary>
    /// The scheme for a dataset's channel: CT keeps the dataset-wide clip and z-score (null here);
    /// any other modality is normalised per case, within the non-zero region when the images'
    /// non-zero voxels fill less than three quarters of the field of view on average (nnU-Net
    /// normalises within its crop mask when cropping to the non-zero region shrinks the images
    /// that much).
    /// </summary>
    public static PerCaseNormalization? ForModality(string? modality, double meanNonZeroFraction) =>
        modality is null || modality.Equals("CT", StringComparison.OrdinalIgnoreCase)
            ? null
            : new PerCaseNormalization(meanNonZeroFraction < 0.75);
}
