using GuidedNet.Imaging;
using GuidedNet.Imaging.Geometry;
using GuidedNet.Imaging.Nifti;

namespace GuidedNet.Pipeline.Validation;

/// <summary>
/// The checks a scan (and its label, when it has one) must pass before the pipeline uses it.
/// Each failure is one sentence naming the file and the problem, written to the quarantine's reason.json.
/// </summary>
public static class CaseValidator
{
    /// <summary>What is wrong with a scan file's name alone (checked before its bytes are fetched); null when it names a NIfTI file or a series zip.</summary>
    public static string? NameProblem(string name) =>
        ScanFileNames.IsScan(name) ? null : $"{name}: not a scan file name (expected {ScanFileNames.Expected})";

    /// <summary>What is wrong with a label file's name alone: labels are NIfTI label maps.</summary>
    public static string? LabelNameProblem(string name) =>
        ScanFileNames.IsNifti(name) ? null : $"{name}: not a NIfTI file name (a label map is .nii or .nii.gz)";

    /// <summary>
    /// Checks a scan file by streaming over its voxels (never holding the volume: validation runs in
    /// the Functions app, several cases at once); returns the problem, or null when it is usable.
    /// The header's geometry is checked first, so a file refused for it is never decoded.
    /// <paramref name="name"/> is how the file is named in messages.
    /// </summary>
    public static string? CheckImage(string file, string name, out ImageGrid? grid)
    {
        grid = null;
        if (NameProblem(name) is { } problem) return problem;
        try
        {
            // A DICOM series is checked from the headers of all its files (geometry, syntax, sizes);
            // its integer pixels cannot be NaN, so only NIfTI voxels are streamed over.
            var geometry = ScanReader.ReadGeometry(file);
            var image = ImageGrid.Of(geometry);
            if (image.SizeX < 2 || image.SizeY < 2 || image.SizeZ < 2)
                return $"{name}: a {image} image is not a 3D volume";
            if (GeometryLimits.SpacingProblem(image.Spacing) is { } spacing) return $"{name}: {spacing}";
            if (ScanFileNames.IsNifti(name))
            {
                long bad = 0;
                NiftiReader.Scan(file, (values, _) =>
                {
                    foreach (float v in values)
                        if (!float.IsFinite(v)) bad++;
                });
                if (bad > 0) return $"{name}: {bad} voxel(s) are NaN or infinite";
            }
            grid = image;
            return null;
        }
        catch (ScanFormatException e)
        {
            return Rename(e.Message, file, name);
        }
    }

    /// <summary>Checks a label map against its image's grid (before decoding it), then streams over it: integer values in 0..classes-1.</summary>
    public static string? CheckLabel(string file, string name, ImageGrid image, int numClasses)
    {
        if (LabelNameProblem(name) is { } problem) return problem;
        try
        {
            var label = ImageGrid.Of(ScanReader.ReadGeometry(file));
            if ((label.SizeX, label.SizeY, label.SizeZ) != (image.SizeX, image.SizeY, image.SizeZ))
                return $"{name}: {label} voxels, but its image has {image}";
            var (a, b) = (label.Spacing, image.Spacing);
            if (Math.Abs(a.X - b.X) > 1e-3 * b.X || Math.Abs(a.Y - b.Y) > 1e-3 * b.Y || Math.Abs(a.Z - b.Z) > 1e-3 * b.Z)
                return $"{name}: spacing {a} differs from its image's {b}";
            float max = 0;
            long nonInteger = 0;
            NiftiReader.Scan(file, (values, _) =>
            {
                foreach (float v in values)
                {
                    if (!float.IsFinite(v) || v < 0 || v != MathF.Floor(v)) nonInteger++;
                    else if (v > max) max = v;
                }
            });
            if (nonInteger > 0) return $"{name}: {nonInteger} voxel(s) are not non-negative integer labels";
            if (max >= numClasses) return $"{name}: label value {max} is beyond the {numClasses} classes of dataset.json (0..{numClasses - 1})";
            return null;
        }
        catch (NiftiFormatException e)
        {
            return Rename(e.Message, file, name);
        }
    }

    // The reader names the local temporary file; the user knows the blob.
    private static string Rename(string message, string file, string name) => message.Replace(file, name);
}

/// <summary>The grid of a checked image: what its label must match.</summary>
public sealed record ImageGrid(int SizeX, int SizeY, int SizeZ, Vector3d Spacing)
{
    public static ImageGrid Of(ScanGeometry geometry) => new(geometry.SizeX, geometry.SizeY, geometry.SizeZ, geometry.Affine.Spacing);

    public override string ToString() => $"{SizeX}x{SizeY}x{SizeZ}";
}
