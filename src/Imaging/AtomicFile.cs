namespace GuidedNet.Imaging;

/// <summary>
/// Writes a file whole or not at all: into a temporary file beside it, renamed over it once
/// complete. A reader sees the old file or the new one, never half of one; a write that fails
/// or is interrupted leaves the old file as it was and removes its temporary file. The
/// temporary name carries the process id, so two processes writing one path do not share it.
/// </summary>
public static class AtomicFile
{
    public static void Write(string path, Action<Stream> write) =>
        WriteFile(path, temp =>
        {
            using var file = File.Create(temp);
            write(file);
        });

    /// <summary>For writers that take a path: <paramref name="write"/> gets the temporary file's.</summary>
    public static void WriteFile(string path, Action<string> write)
    {
        string temp = TemporaryName(path);
        try
        {
            write(temp);
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            File.Delete(temp);
        }
    }

    public static async Task WriteFileAsync(string path, Func<string, Task> write)
    {
        string temp = TemporaryName(path);
        try
        {
            await write(temp);
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            File.Delete(temp);
        }
    }

    public static void WriteAllText(string path, string text) => WriteFile(path, temp => File.WriteAllText(temp, text));

    private static string TemporaryName(string path)
    {
        string full = Path.GetFullPath(path);
        string folder = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(folder);
        return Path.Combine(folder, $".{Path.GetFileName(full)}.{Environment.ProcessId}.partial");
    }
}
