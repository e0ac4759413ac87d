using System.Diagnostics;

namespace GuidedNet.TestSupport.Dicom;

/// <summary>
/// Writes DICOM series with pydicom (<c>write_series.py</c>: Colin27 from Debian mricron-data as
/// CT-like values) and converts them with dcm2niix — the field's own tools, installed by the test command.
/// </summary>
public static class DicomSeriesScript
{
    public const string Python = "/usr/bin/python3";

    public static readonly string Script = Path.Combine(Reference.RepositoryRoot, "tests", "TestSupport", "Dicom", "write_series.py");

    /// <summary>Writes a series into <paramref name="folder"/>; returns its SeriesInstanceUID.</summary>
    public static string Write(string folder, params string[] options) => Run(Python, [Script, folder, .. options]);

    /// <summary>Runs a program, failing the test with its output when it fails; returns its standard output.</summary>
    public static string Run(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in arguments) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} failed ({process.ExitCode}): {error.Result}{output}");
        return output.Trim();
    }

    /// <summary>dcm2niix's NIfTI of a DICOM input: the series with that number in a folder, or the single file given.</summary>
    public static string Dcm2niix(string input, string outputFolder, string seriesNumber = "2")
    {
        Directory.CreateDirectory(outputFolder);
        if (File.Exists(input))
        {
            Run("dcm2niix", "-s", "y", "-z", "n", "-f", "image", "-o", outputFolder, input);
            return Path.Combine(outputFolder, "image.nii");
        }
        Run("dcm2niix", "-z", "n", "-f", "%s", "-o", outputFolder, input);
        return Path.Combine(outputFolder, seriesNumber + ".nii");
    }
}

/// <summary>The field's checks of a written DICOM object: dciodvfy (dicom3tools) and pydicom.</summary>
public static class DicomChecks
{
    public static readonly string SegReader = Path.Combine(Reference.RepositoryRoot, "tests", "TestSupport", "Dicom", "read_seg.py");

    /// <summary>dciodvfy's findings on a file: its "Error" lines (an empty list is a pass) and its whole output.</summary>
    public static (IReadOnlyList<string> Errors, string Output) Dciodvfy(string file)
    {
        var start = new ProcessStartInfo("dciodvfy") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(file);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        string stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        string output = stdout.Result + stderr;
        return (output.Split('\n').Where(l => l.StartsWith("Error", StringComparison.Ordinal)).ToList(), output);
    }

    /// <summary>Reads a SEG with pydicom into <paramref name="folder"/>: frames.npy and seg.json.</summary>
    public static void ReadSeg(string file, string folder) => DicomSeriesScript.Run(DicomSeriesScript.Python, SegReader, file, folder);
}
