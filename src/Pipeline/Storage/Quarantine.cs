namespace GuidedNet.Pipeline.Storage;

/// <summary><c>quarantine/&lt;area&gt;/&lt;name&gt;/&lt;run&gt;/reason.json</c>: what one run quarantined and why.</summary>
/// <param name="Files">the inputs moved here (their paths before the move)</param>
/// <param name="Kept">inputs left in place because they changed after they were checked: the next run checks the new bytes</param>
/// <param name="Complete">false while the move is under way: a retry finishes it with the recorded reason</param>
public sealed record QuarantineRecord(string Name, string Reason, string Run, IReadOnlyList<string> Files, IReadOnlyList<string> Kept, DateTime QuarantinedUtc,
    bool Complete = true);

/// <summary>
/// Moves inputs that failed validation to the quarantine with their reason. Each run has its own
/// folder, so earlier quarantined copies stay; each source is removed only if it still holds the
/// bytes that were checked. The move is idempotent: reason.json is written first (pending, with the
/// reason) and last (complete), so a retry after a partial move finishes it rather than finding the
/// sources gone and the reason lost.
/// </summary>
public static class Quarantine
{
    public static string RecordPath(string area, string name, string run) => BlobLayout.QuarantinePrefix(area, name, run) + "reason.json";

    /// <summary>The area of a project's dropped scans and their labels.</summary>
    public static string ScanArea(string project) => $"{BlobLayout.Scans}/{project}";

    /// <summary>The name a case's bad label is quarantined under, beside its scan's.</summary>
    public static string LabelName(string caseName) => caseName + "-label";

    /// <summary>The record of this run's move of <paramref name="name"/> (complete, or pending after an interrupted try); null when there was none.</summary>
    public static Task<QuarantineRecord?> FindAsync(PipelineStorage storage, string area, string name, string run, CancellationToken cancellation = default) =>
        storage.ReadJsonAsync<QuarantineRecord>(RecordPath(area, name, run), cancellation);

    /// <param name="files">each pinned input with the name it gets inside the run's quarantine folder</param>
    /// <param name="reason">why; a pending record's reason takes precedence (the retry of an interrupted move)</param>
    public static async Task<QuarantineRecord> MoveAsync(PipelineStorage storage, string area, string name, string run,
        IEnumerable<(BlobPin File, string As)> files, string reason, DateTime now, CancellationToken cancellation = default)
    {
        string path = RecordPath(area, name, run);
        var earlier = await storage.ReadVersionedJsonAsync<QuarantineRecord>(path, cancellation);
        if (earlier?.Value.Complete == true) return earlier.Value;
        string etag = earlier?.ETag
                      ?? await storage.TryWriteJsonAsync(path, new QuarantineRecord(name, reason, run, [], [], now, Complete: false), ifMatch: null, cancellation)
                      ?? throw new IOException($"{path}: written by another actor while this run was quarantining '{name}'");
        reason = earlier?.Value.Reason ?? reason;

        string prefix = BlobLayout.QuarantinePrefix(area, name, run);
        var moved = new List<string>();
        var kept = new List<string>();
        foreach (var (file, asName) in files)
        {
            string destination = prefix + asName;
            bool copied;
            try
            {
                copied = await storage.TryCopyCreateOnlyAsync(file, destination, cancellation);
            }
            catch (PinnedBlobChangedException)
            {
                // Gone from its place but here: an earlier try of this move got that far.
                copied = await storage.GetAsync(destination, cancellation) is not null && await storage.GetAsync(file.Path, cancellation) is null;
            }
            if (copied && await storage.DeleteIfUnchangedAsync(file, cancellation)) moved.Add(file.Path);
            else kept.Add(file.Path);
        }
        var record = new QuarantineRecord(name, reason, run, moved, kept, now);
        return await storage.TryWriteJsonAsync(path, record, etag, cancellation) is not null
            ? record
            : await FindAsync(storage, area, name, run, cancellation) ?? record;
    }
}
