namespace GuidedNet.GpuJob.Cli;

/// <summary>The NIfTI inputs of a command: one file, or every NIfTI file of a folder.</summary>
public static class CaseFiles
{
    /// <summary>The NIfTI files of a folder (sorted), or the single file given.</summary>
    public static IReadOnlyList<string> Find(string input)
    {
        if (File.Exists(input)) return new[] { input };
        if (!Directory.Exists(input)) throw new UsageException($"input '{input}' is neither a file nor a folder");
        var files = Directory.EnumerateFiles(input).Where(Data.MsdDataset.IsNifti).OrderBy(f => f, StringComparer.Ordinal).ToList();
        if (files.Count == 0) throw new UsageException($"no .nii or .nii.gz files in '{input}'");
        return files;
    }
}
