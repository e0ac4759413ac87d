using GuidedNet.Imaging.Numpy;

namespace GuidedNet.TestSupport;

/// <summary>
/// Locates the shared reference fixtures (<c>../shared/reference</c> beside the repository, as
/// on developer machines and CI) — read in place, never copied. GUIDEDNET_REFERENCE overrides.
/// </summary>
public static class Reference
{
    private static readonly Lazy<string> Folder = new(Locate);

    public static string Directory => Folder.Value;

    public static string File(string name) => Path.Combine(Directory, name);

    public static NpyArray Npy(string name) => Imaging.Numpy.Npy.Read(File(name.EndsWith(".npy") ? name : name + ".npy"));

    public static string RepositoryRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !System.IO.File.Exists(Path.Combine(dir.FullName, "GuidedNet.Cloud.sln"))) dir = dir.Parent;
            return dir?.FullName ?? throw new InvalidOperationException($"no GuidedNet.Cloud.sln above {AppContext.BaseDirectory}");
        }
    }

    private static string Locate()
    {
        string? env = Environment.GetEnvironmentVariable("GUIDEDNET_REFERENCE");
        string folder = env ?? Path.GetFullPath(Path.Combine(RepositoryRoot, "..", "shared", "reference"));
        if (!System.IO.File.Exists(Path.Combine(folder, "manifest.json")))
            throw new InvalidOperationException($"reference fixtures not found at {folder} (set GUIDEDNET_REFERENCE)");
        return folder;
    }
}

/// <summary>A scratch folder removed when disposed.</summary>
public sealed class TempFolder : IDisposable
{
    public TempFolder()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "guidednet-tests", Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { System.IO.Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}
