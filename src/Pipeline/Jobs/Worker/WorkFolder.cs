using System.Diagnostics;
using System.Globalization;

namespace GuidedNet.Pipeline.Jobs.Worker;

/// <summary>
/// The worker's local scratch space: one folder per job (its dataset, preprocessed cache and
/// attempts) and a cache of downloaded models. Left to itself it only grows; this keeps it within
/// a disk budget. A job's folder goes as soon as its outputs are uploaded; whatever remains (jobs
/// that failed here and may come back, models no longer in production) is evicted least recently
/// used first when the space in use exceeds the budget; and the temporary <c>.partial</c> files of
/// writers that died (<see cref="GuidedNet.Imaging.AtomicFile"/>) are swept at start.
/// </summary>
public sealed class WorkFolder
{
    private const string JobsFolder = "jobs";
    private const string ModelsFolder = "models";

    /// <summary>In each job folder: the id of the process that last used it.</summary>
    private const string OwnerFile = ".owner";

    public WorkFolder(string root, long budgetBytes)
    {
        if (budgetBytes <= 0) throw new ArgumentException("the work folder's disk budget must be positive");
        Root = Path.GetFullPath(root);
        BudgetBytes = budgetBytes;
        Directory.CreateDirectory(Path.Combine(Root, JobsFolder));
        Directory.CreateDirectory(Path.Combine(Root, ModelsFolder));
    }

    public string Root { get; }
    public long BudgetBytes { get; }

    /// <summary>
    /// A job's folder, marked as used now (the eviction order) and as this process's: workers that
    /// share a work folder (the default is one per machine) never evict a folder another live
    /// worker holds.
    /// </summary>
    public string Job(string jobId)
    {
        string folder = Path.Combine(Root, JobsFolder, Checked(jobId));
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, OwnerFile), Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        Directory.SetLastWriteTimeUtc(folder, DateTime.UtcNow);
        return folder;
    }

    /// <summary>Where a downloaded model is cached; a model found there is marked as used now.</summary>
    public string Model(string blobPath)
    {
        string file = Path.Combine(Root, ModelsFolder, blobPath.Replace('/', '_'));
        if (File.Exists(file)) File.SetLastWriteTimeUtc(file, DateTime.UtcNow);
        return file;
    }

    /// <summary>Removes a job's folder: its outputs are in storage, and a later attempt downloads what it needs.</summary>
    public void ReleaseJob(string jobId)
    {
        string folder = Path.Combine(Root, JobsFolder, Checked(jobId));
        if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
    }

    /// <summary>Bytes in use under the work folder.</summary>
    public long UsedBytes() => Entries().Sum(e => e.Bytes);

    /// <summary>
    /// Evicts job folders and cached models, least recently used first, until the space in use is
    /// within the budget; <paramref name="inUse"/> (paths of the running job's folder or the loaded
    /// model) are never evicted. Returns what was removed.
    /// </summary>
    public IReadOnlyList<string> EnforceBudget(params string[] inUse)
    {
        var keep = inUse.Select(Path.GetFullPath).ToHashSet();
        var entries = Entries().ToList();
        long used = entries.Sum(e => e.Bytes);
        var removed = new List<string>();
        foreach (var entry in entries.Where(e => !keep.Contains(e.Path) && !HeldByAnotherWorker(e.Path)).OrderBy(e => e.LastUsed))
        {
            if (used <= BudgetBytes) break;
            if (Directory.Exists(entry.Path)) Directory.Delete(entry.Path, recursive: true);
            else File.Delete(entry.Path);
            used -= entry.Bytes;
            removed.Add(entry.Path);
        }
        return removed;
    }

    /// <summary>
    /// Deletes <c>.partial</c> files left by writers that are no longer running (the writer's
    /// process id is part of the name); a live process's partial file is another worker's write in
    /// progress and stays. Returns the files removed.
    /// </summary>
    public IReadOnlyList<string> SweepPartialFiles()
    {
        var removed = new List<string>();
        foreach (string file in Directory.EnumerateFiles(Root, "*.partial", SearchOption.AllDirectories))
        {
            if (WriterPid(file) is { } pid && IsRunning(pid)) continue;
            File.Delete(file);
            removed.Add(file);
        }
        return removed;
    }

    /// <summary>A job folder whose owner is another process that is still running.</summary>
    private static bool HeldByAnotherWorker(string path)
    {
        string owner = Path.Combine(path, OwnerFile);
        return File.Exists(owner)
               && int.TryParse(File.ReadAllText(owner), NumberStyles.None, CultureInfo.InvariantCulture, out int pid)
               && pid != Environment.ProcessId && IsRunning(pid);
    }

    /// <summary>The process id in <c>.name.PID.partial</c>, or null when the name has none.</summary>
    private static int? WriterPid(string file)
    {
        string name = Path.GetFileNameWithoutExtension(file); // .name.PID
        int dot = name.LastIndexOf('.');
        return dot >= 0 && int.TryParse(name[(dot + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out int pid) ? pid : null;
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private sealed record Entry(string Path, long Bytes, DateTime LastUsed);

    /// <summary>Each job folder and each cached model, with its size and when it was last used.</summary>
    private IEnumerable<Entry> Entries()
    {
        foreach (string folder in Directory.EnumerateDirectories(Path.Combine(Root, JobsFolder)))
            yield return new Entry(folder, new DirectoryInfo(folder).EnumerateFiles("*", SearchOption.AllDirectories).Where(f => f.Name != OwnerFile).Sum(f => f.Length),
                Directory.GetLastWriteTimeUtc(folder));
        foreach (var file in new DirectoryInfo(Path.Combine(Root, ModelsFolder)).EnumerateFiles())
            yield return new Entry(file.FullName, file.Length, file.LastWriteTimeUtc);
    }

    /// <summary>Job ids become folder names: one path segment, nothing that climbs out.</summary>
    private static string Checked(string jobId) =>
        jobId.Length is > 0 and <= 200 && jobId.IndexOfAny(['/', '\\', '\0']) < 0 && jobId is not ("." or "..")
            ? jobId
            : throw new ArgumentException($"'{jobId}' cannot name a job folder");
}
