namespace GuidedNet.Imaging.Nifti;

/// <summary>
/// The one error raised for any unreadable or invalid image file: it always names the file and
/// what is wrong with it, so a user (or a quarantine record) can act on the message alone.
/// </summary>
public sealed class NiftiFormatException : Exception
{
    public NiftiFormatException(string path, string problem, Exception? inner = null)
        : base($"{path}: {problem}", inner)
    {
        FilePath = path;
        Problem = problem;
    }

    public string FilePath { get; }
    public string Problem { get; }
}
