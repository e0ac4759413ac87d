namespace GuidedNet.GpuJob.Cli;

/// <summary>NIfTI file discovery and case naming in the nnU-Net convention.</summary>
public static class CaseFiles
{
    public static bool IsNifti(string path) =>
        path.EndsWith(".nii", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".nii.gz", StringComparison.OrdinalIgnoreCase);

    /// <summary><c>case_001_0000.nii.gz</c> → <c>case_001</c>; the channel suffix is dropped as nnU-Net does.</summary>
    public static string CaseName(string path) => Data.MsdDataset.CaseName(path);

    /// <summary>The NIfTI files of a folder (sorted), or the single file given.</summary>
    public static IReadOnlyList<string> Find(string input)
    {
        if (File.Exists(input)) return new[] { input };
        if (!Directory.Exists(input)) throw new UsageException($"input '{input}' is neither a file nor a folder");
        var files = Directory.EnumerateFiles(input).Where(IsNifti).OrderBy(f => f, StringComparer.Ordinal).ToList();
        if (files.Count == 0) throw new UsageException($"no .nii or .nii.gz files in '{input}'");
        return files;
    }
}
