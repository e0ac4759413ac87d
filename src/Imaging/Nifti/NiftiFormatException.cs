namespace GuidedNet.Imaging.Nifti;

/// <summary>An unreadable or invalid NIfTI file (<see cref="ScanFormatException"/>).</summary>
public sealed class NiftiFormatException(string path, string problem, Exception? inner = null)
    : ScanFormatException(path, problem, inner);
