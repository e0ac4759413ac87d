namespace GuidedNet.Imaging.Geometry;

/// <summary>
/// The voxel geometry a scan may have before the pipeline resamples it. A tiny file with huge
/// voxels is a "geometry bomb": resampled to a model's spacing it becomes gigabytes. Both bounds
/// are checked before anything is allocated.
/// </summary>
public static class GeometryLimits
{
    /// <summary>Finest spacing accepted, in mm (micro-CT is ~0.01–0.1; clinical CT and MR 0.3–10).</summary>
    public const double MinSpacingMm = 0.05;

    /// <summary>Coarsest spacing accepted, in mm.</summary>
    public const double MaxSpacingMm = 20;

    /// <summary>Largest grid a resampling may produce: 2²⁹ voxels (2 GiB as float32; a 512×512×1000 CT holds 2.6·10⁸).</summary>
    public const long MaxResampledVoxels = 1L << 29;

    /// <summary>What is wrong with a voxel spacing, or null when it is within bounds.</summary>
    public static string? SpacingProblem(Vector3d spacing) =>
        new[] { spacing.X, spacing.Y, spacing.Z }.All(s => s >= MinSpacingMm && s <= MaxSpacingMm)
            ? null
            : $"voxel spacing {spacing} mm is outside {MinSpacingMm}–{MaxSpacingMm} mm";
}

/// <summary>A volume whose geometry is outside <see cref="GeometryLimits"/>; the message says which limit.</summary>
public sealed class GeometryLimitException(string message) : Exception(message);
