using GuidedNet.Imaging;
using GuidedNet.Imaging.Dicom;

namespace GuidedNet.GpuJob.Cli;

public static class CaseFiles
{
    /// <summary>
    /// The scans an input names, each one case: the file given (NIfTI, a zipped DICOM series, a
    /// DICOM file); or in a folder its NIfTI files and series zips; or, when it holds none, the
    /// folder itself as one DICOM series — or each subfolder as one when the series are one level
    /// down (a PACS export of several scans).
    /// </summary>
    public static IReadOnlyList<string> Find(string input)
    {
        if (File.Exists(input)) return new[] { input };
        if (!Directory.Exists(input)) throw new UsageException($"input '{input}' is neither a file nor a folder");
        var files = Directory.EnumerateFiles(input).Where(ScanFileNames.IsScan).OrderBy(f => f, StringComparer.Ordinal).ToList();
        if (files.Count > 0) return files;
        if (Directory.EnumerateFiles(input).Any(IsDicomFile)) return new[] { input };
        var series = Directory.EnumerateDirectories(input).Where(d => Directory.EnumerateFiles(d, "*", SearchOption.AllDirectories).Any(IsDicomFile))
            .OrderBy(d => d, StringComparer.Ordinal).ToList();
        if (series.Count > 0) return series;
        throw new UsageException($"no scans in '{input}': no {ScanFileNames.Expected} files, and no DICOM files in it or its subfolders");
    }

    private static bool IsDicomFile(string path) => DicomSeriesReader.IsDicomInput(path) && !ScanFileNames.IsDicomZip(path);
}
