using GuidedNet.Imaging.Dicom;
using GuidedNet.Imaging.Nifti;

namespace GuidedNet.Imaging;

/// <summary>
/// Reads a scan whatever form it came in: a NIfTI file (by its name), or a DICOM series — a
/// folder, a <c>.zip</c> or a single Part 10 file. Both give a <see cref="Volume"/> in the same
/// RAS world, and both fail with a <see cref="ScanFormatException"/> naming the file.
/// </summary>
public static class ScanReader
{
    /// <param name="seriesInstanceUid">For DICOM inputs holding several series: the one to read (default: the largest).</param>
    /// <param name="log">Told what a DICOM read chose or skipped.</param>
    public static Volume Read(string path, string? seriesInstanceUid = null, Action<string>? log = null) =>
        Load(path, seriesInstanceUid, log).Volume;

    /// <summary>
    /// Reads a scan with what its format says beyond the voxels: for a DICOM series, the
    /// identifiers a DICOM SEG of it must reference (null for NIfTI).
    /// </summary>
    public static (Volume Volume, DicomSeriesInfo? Dicom) Load(string path, string? seriesInstanceUid = null, Action<string>? log = null)
    {
        if (IsNiftiFile(path)) return (NiftiReader.Read(path), null);
        var series = DicomSeriesReader.Read(path, seriesInstanceUid, log: log);
        return (series.Volume, series.Info);
    }

    /// <summary>The grid and geometry of a scan, from its header(s) alone; every check of <see cref="Read"/> but the voxels'.</summary>
    public static ScanGeometry ReadGeometry(string path, string? seriesInstanceUid = null)
    {
        if (!IsNiftiFile(path)) return DicomSeriesReader.ReadGeometry(path, seriesInstanceUid);
        var header = NiftiReader.ReadHeader(path);
        int rank = header.Dim[0];
        return new ScanGeometry(header.Dim[1], rank >= 2 ? header.Dim[2] : 1, rank >= 3 ? header.Dim[3] : 1, header.Affine);
    }

    // NIfTI is known by its name; anything else (a folder, a zip, a Part 10 file) is DICOM.
    private static bool IsNiftiFile(string path) => File.Exists(path) && ScanFileNames.IsNifti(path);
}

/// <summary>A scan's grid and voxel-to-RAS affine, read without its voxels.</summary>
public sealed record ScanGeometry(int SizeX, int SizeY, int SizeZ, Geometry.Affine Affine)
{
    public override string ToString() => $"{SizeX}x{SizeY}x{SizeZ} voxels, spacing {Affine.Spacing} mm";
}
