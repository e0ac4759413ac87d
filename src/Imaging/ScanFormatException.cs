namespace GuidedNet.Imaging;

/// <summary>
/// The one error raised for any unreadable or invalid scan, whatever its format: it always names
/// the file (or series) and what is wrong with it, so a user or a quarantine record can act on the
/// message alone. Each format's reader raises its own subclass.
/// </summary>
public class ScanFormatException : Exception
{
    public ScanFormatException(string path, string problem, Exception? inner = null)
        : base($"{path}: {problem}", inner)
    {
        FilePath = path;
        Problem = problem;
    }

    public string FilePath { get; }
    public string Problem { get; }
}
