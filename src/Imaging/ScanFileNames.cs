namespace GuidedNet.Imaging;

/// <summary>
/// The naming rules for scan files and cases shared by the dataset reader, the CLI and the
/// pipeline. A scan file is a NIfTI file (<c>.nii</c>, <c>.nii.gz</c>) or a zipped DICOM series
/// (<c>.zip</c>); a DICOM series may also be a folder (<see cref="ScanReader"/>).
/// </summary>
public static class ScanFileNames
{
    public static bool IsNifti(string path) =>
        path.EndsWith(".nii", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".nii.gz", StringComparison.OrdinalIgnoreCase);

    public static bool IsDicomZip(string path) => path.EndsWith(".zip", StringComparison.OrdinalIgnoreCase);

    /// <summary>A file name a scan may have: NIfTI or a zipped DICOM series.</summary>
    public static bool IsScan(string path) => IsNifti(path) || IsDicomZip(path);

    /// <summary>What a file named so must be, for messages.</summary>
    public const string Expected = ".nii, .nii.gz, or .zip (a DICOM series)";

    /// <summary>
    /// The extension a local copy of <paramref name="path"/> is given: <c>.zip</c> for a series,
    /// <c>.nii.gz</c> when the name is gzipped, else <c>.nii</c> (the readers detect gzip and zip
    /// from content; the name keeps tools that trust it honest).
    /// </summary>
    public static string Extension(string path) =>
        IsDicomZip(path) ? ".zip" : path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? ".nii.gz" : ".nii";

    /// <summary><c>case_0000.nii.gz</c>, <c>case.zip</c> or a series folder <c>case/</c> → <c>case</c>: the channel suffix is dropped as nnU-Net does.</summary>
    public static string CaseName(string path)
    {
        string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(path));
        foreach (string extension in new[] { ".nii.gz", ".nii", ".zip" })
            if (name.EndsWith(extension, StringComparison.OrdinalIgnoreCase))
            {
                name = name[..^extension.Length];
                break;
            }
        if (name.Length > 5 && name[^5] == '_' && name[^4..].All(char.IsDigit)) name = name[..^5];
        return name;
    }
}
