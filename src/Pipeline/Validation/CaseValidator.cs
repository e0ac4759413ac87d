using GuidedNet.Imaging;
using GuidedNet.Imaging.Nifti;

namespace GuidedNet.Pipeline.Validation;

/// <summary>
/// The checks a scan (and its label, when it has one) must pass before the pipeline uses it.
/// Each failure is one sentence naming the file and the problem, written to the quarantine's reason.json.
/// </summary>
public static class CaseValidator
{
    /// <summary>What is wrong with a file's name alone (checked before its bytes are fetched); null when it names a NIfTI file.</summary>
    public static string? NameProblem(string name) =>
        NiftiFileNames.IsNifti(name) ? null : $"{name}: not a NIfTI file name (expected .nii or .nii.gz)";

    /// <summary>Checks a scan file; returns the problem, or null when it is usable. <paramref name="name"/> is how the file is named in messages.</summary>
    public static string? CheckImage(string file, string name, out Volume? image)
    {
        image = null;
        if (NameProblem(name) is { } problem) return problem;
        try
        {
            image = NiftiReader.Read(file);
        }
        catch (NiftiFormatException e)
        {
            return Rename(e.Message, file, name);
        }
        if (image.SizeX < 2 || image.SizeY < 2 || image.SizeZ < 2)
            return $"{name}: a {image.SizeX}x{image.SizeY}x{image.SizeZ} image is not a 3D volume";
        var spacing = image.Spacing;
        if (!(spacing.X > 0 && spacing.Y > 0 && spacing.Z > 0) || !double.IsFinite(spacing.X + spacing.Y + spacing.Z))
            return $"{name}: voxel spacing {spacing} is not positive and finite";
        long bad = 0;
        foreach (float v in image.Voxels)
            if (!float.IsFinite(v)) bad++;
        if (bad > 0) return $"{name}: {bad} voxel(s) are NaN or infinite";
        return null;
    }

    /// <summary>Checks a label map against its image: same grid and integer values in 0..classes-1.</summary>
    public static string? CheckLabel(string file, string name, Volume image, int numClasses)
    {
        if (NameProblem(name) is { } problem) return problem;
        Volume label;
        try
        {
            label = NiftiReader.Read(file);
        }
        catch (NiftiFormatException e)
        {
            return Rename(e.Message, file, name);
        }
        if (!image.SameGrid(label))
            return $"{name}: {label.SizeX}x{label.SizeY}x{label.SizeZ} voxels, but its image has {image.SizeX}x{image.SizeY}x{image.SizeZ}";
        var (a, b) = (label.Spacing, image.Spacing);
        if (Math.Abs(a.X - b.X) > 1e-3 * b.X || Math.Abs(a.Y - b.Y) > 1e-3 * b.Y || Math.Abs(a.Z - b.Z) > 1e-3 * b.Z)
            return $"{name}: spacing {a} differs from its image's {b}";
        float max = 0;
        long nonInteger = 0;
        foreach (float v in label.Voxels)
        {
            if (!float.IsFinite(v) || v < 0 || v != MathF.Floor(v)) nonInteger++;
            else if (v > max) max = v;
        }
        if (nonInteger > 0) return $"{name}: {nonInteger} voxel(s) are not non-negative integer labels";
        if (max >= numClasses) return $"{name}: label value {max} is beyond the {numClasses} classes of dataset.json (0..{numClasses - 1})";
        return null;
    }

    // The reader names the local temporary file; the user knows the blob.
    private static string Rename(string message, string file, string name) => message.Replace(file, name);
}
