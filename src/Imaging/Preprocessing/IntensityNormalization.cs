namespace GuidedNet.Imaging.Preprocessing;

/// <summary>
/// CT intensity normalisation: clip to [ClipLow, ClipHigh] HU, then z-score with a dataset's
/// foreground statistics (reference README §6 step 3).
/// </summary>
public sealed record IntensityNormalization(double ClipLow, double ClipHigh, double Mean, double StandardDeviation)
{
    public void Validate()
    {
        if (!(ClipLow < ClipHigh)) throw new ArgumentException($"clip range [{ClipLow}, {ClipHigh}] is empty");
        if (!(StandardDeviation > 0) || !double.IsFinite(Mean))
            throw new ArgumentException($"normalisation needs a finite mean and a positive standard deviation, got {Mean} and {StandardDeviation}");
    }

    public float[] Apply(float[] voxels)
    {
        var result = new float[voxels.LongLength];
        float lo = (float)ClipLow, hi = (float)ClipHigh, mean = (float)Mean, std = (float)StandardDeviation;
        Parallel.For(0, (voxels.LongLength + 65535) / 65536, block =>
        {
            long end = Math.Min(voxels.LongLength, (block + 1) * 65536);
            for (long i = block * 65536; i < end; i++) result[i] = (Math.Clamp(voxels[i], lo, hi) - mean) / std;
        });
        return result;
    }

    /// <summary>
    /// Statistics of the intensities inside labeled foreground (label &gt; 0) voxels, as nnU-Net
    /// computes them for CT: the 0.5 and 99.5 percentiles become the clip range; mean and standard
    /// deviation are those of the unclipped foreground intensities. At most
    /// <paramref name="samplesPerCase"/> voxels are drawn per case (evenly strided) so memory stays
    /// bounded on large datasets.
    /// </summary>
    public static IntensityNormalization FromLabeledForeground(
        IEnumerable<(Volume Image, Volume Label)> cases, int samplesPerCase = ForegroundIntensities.DefaultSamplesPerCase)
    {
        var samples = new ForegroundIntensities(samplesPerCase);
        foreach (var (image, label) in cases) samples.Add(image, label);
        return samples.ToNormalization();
    }
}

/// <summary>
/// The labeled foreground's intensities, gathered one case at a time (a case need not stay in
/// memory once added): every k-th foreground voxel, so that a case gives at most a fixed number.
/// </summary>
public sealed class ForegroundIntensities(int samplesPerCase = ForegroundIntensities.DefaultSamplesPerCase)
{
    public const int DefaultSamplesPerCase = 100_000;

    private readonly List<float> _samples = new();

    public void Add(Volume image, Volume label)
    {
        if (!image.SameGrid(label))
            throw new ArgumentException($"image {image} and label {label} have different grids");
        long foreground = label.Voxels.LongCount(v => v > 0);
        if (foreground == 0) return;
        long every = Math.Max(1, foreground / samplesPerCase);
        long seen = 0;
        for (long i = 0; i < label.Voxels.LongLength; i++)
        {
            if (label.Voxels[i] <= 0) continue;
            if (seen++ % every == 0) _samples.Add(image.Voxels[i]);
        }
    }

    /// <summary>Clip to the 0.5 and 99.5 percentiles, then z-score with the samples' mean and deviation (nnU-Net's CT scheme).</summary>
    public IntensityNormalization ToNormalization()
    {
        if (_samples.Count < 2) throw new ArgumentException("no labeled foreground voxels to compute intensity statistics from");
        _samples.Sort();
        double mean = _samples.Average(v => (double)v);
        double variance = _samples.Sum(v => (v - mean) * (v - mean)) / _samples.Count;
        return new IntensityNormalization(Statistics.Percentile(_samples, 0.5), Statistics.Percentile(_samples, 99.5), mean, Math.Sqrt(variance));
    }
}
