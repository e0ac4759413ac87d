namespace GuidedNet.Imaging.Nifti;

/// <summary>The naming rules for NIfTI files and cases shared by the dataset reader, the CLI and the pipeline.</summary>
public static class NiftiFileNames
{
    public static bool IsNifti(string path) =>
        path.EndsWith(".nii", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".nii.gz", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// The extension a local copy of <paramref name="path"/> is given: <c>.nii.gz</c> when the name is gzipped,
    /// else <c>.nii</c> (the reader detects gzip from content; the name keeps tools that trust it honest).
    /// </summary>
    public static string Extension(string path) => path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? ".nii.gz" : ".nii";

    /// <summary><c>case_0000.nii.gz</c> → <c>case</c>: the channel suffix is dropped as nnU-Net does.</summary>
    public static string CaseName(string path)
    {
        string name = Path.GetFileName(path);
        name = name.EndsWith(".nii.gz", StringComparison.OrdinalIgnoreCase) ? name[..^7] : name.EndsWith(".nii", StringComparison.OrdinalIgnoreCase) ? name[..^4] : name;
        if (name.Length > 5 && name[^5] == '_' && name[^4..].All(char.IsDigit)) name = name[..^5];
        return name;
    }
}
