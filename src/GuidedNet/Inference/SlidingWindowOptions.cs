using GuidedNet.Training;

namespace GuidedNet.Inference;

/// <summary>How a volume is tiled into patches and how overlapping predictions are combined.</summary>
public sealed record SlidingWindowOptions
{
    /// <summary>Patch size (D, H, W) = (z, y, x); each a multiple of 16.</summary>
    public int[] Patch { get; set; } = { 64, 128, 128 };

    /// <summary>Step between windows (D, H, W). When null, derived from <see cref="Overlap"/>.</summary>
    public int[]? Stride { get; set; }

    /// <summary>Fraction of a patch shared by neighbouring windows (0 ≤ overlap &lt; 1); used when no stride is given.</summary>
    public double Overlap { get; set; } = 0.5;

    /// <summary>Weight each window's softmax by a Gaussian centred on the patch (nnU-Net); otherwise uniform averaging (the reference).</summary>
    public bool Gaussian { get; set; }

    /// <summary>Average over the eight mirrorings of each window (test-time augmentation).</summary>
    public bool MirrorTta { get; set; }

    /// <summary>Windows sent through the network together.</summary>
    public int WindowsPerBatch { get; set; } = 1;

    /// <summary>The network's number format (fast mode: bf16 where the hardware has it); fp32 is exact.</summary>
    public InferencePrecision Precision { get; set; } = InferencePrecision.Float32;

    /// <summary>Which windows run: all (exact), or only those the body's bounding box needs (<see cref="BodyRegion"/>).</summary>
    public WindowCoverage Coverage { get; set; } = WindowCoverage.WholeVolume;

    public int[] EffectiveStride() =>
        Stride ?? Patch.Select(p => Math.Max(1, (int)Math.Floor(p * (1 - Overlap)))).ToArray();

    public void Validate()
    {
        if (Patch.Length != 3 || Patch.Any(p => p <= 0 || p > TrainingLimits.MaxPatchEdge || p % Network.UNet3D.SizeMultiple != 0))
            throw new ArgumentException($"patch must be three positive multiples of {Network.UNet3D.SizeMultiple} (D,H,W) of at most {TrainingLimits.MaxPatchEdge}");
        if (WindowsPerBatch is < 1 or > TrainingLimits.MaxBatch) throw new ArgumentException($"windows per batch must be within [1, {TrainingLimits.MaxBatch}]");
        if ((long)Patch[0] * Patch[1] * Patch[2] * WindowsPerBatch > TrainingLimits.MaxBatchVoxels)
            throw new ArgumentException($"patch × windows per batch must hold at most {TrainingLimits.MaxBatchVoxels} voxels");
        if (Stride is not null && (Stride.Length != 3 || Stride.Any(s => s <= 0)))
            throw new ArgumentException($"stride {string.Join(",", Stride)} must be three positive integers (D,H,W)");
        if (Stride is not null && Stride.Zip(Patch).Any(sp => sp.First > sp.Second))
            throw new ArgumentException($"stride {string.Join(",", Stride)} is larger than the patch {string.Join(",", Patch)}: voxels would be skipped");
        if (!(Overlap >= 0 && Overlap < 1)) throw new ArgumentException($"overlap {Overlap} must be in [0, 1)");
    }
}

/// <summary>Which windows of a volume are computed; voxels no computed window reaches are background.</summary>
public enum WindowCoverage
{
    /// <summary>The whole volume's tiling (exact).</summary>
    WholeVolume,

    /// <summary>
    /// The whole tiling's windows that touch the body's box: inside the box every voxel gets
    /// exactly the prediction it would get from the whole tiling. Saves windows only where whole
    /// windows lie in air, which large patches seldom do.
    /// </summary>
    SkipOutsideBody,

    /// <summary>The body's box tiled on its own: far fewer windows with large patches, but at other positions, so predictions inside change.</summary>
    TileBody,
}

/// <summary>Progress of one volume's prediction.</summary>
public readonly record struct SlidingWindowProgress(int WindowsDone, int WindowsTotal, long Voxels, TimeSpan Elapsed)
{
    public double VoxelsPerSecond => Elapsed.TotalSeconds > 0 ? Voxels * (double)WindowsDone / WindowsTotal / Elapsed.TotalSeconds : 0;

    public TimeSpan Remaining => WindowsDone == 0
        ? TimeSpan.Zero
        : TimeSpan.FromSeconds(Elapsed.TotalSeconds * (WindowsTotal - WindowsDone) / WindowsDone);
}
