namespace GuidedNet.Pipeline.Storage;

/// <summary><c>quarantine/&lt;area&gt;/&lt;name&gt;/&lt;run&gt;/reason.json</c>: what one run quarantined and why.</summary>
/// <param name="Files">the inputs moved here (their paths before the move)</param>
/// <param name="Kept">inputs left in place because they changed after they were checked: the next run checks the new bytes</param>
public sealed record QuarantineRecord(string Name, string Reason, string Run, IReadOnlyList<string> Files, IReadOnlyList<string> Kept, DateTime QuarantinedUtc);

/// <summary>
/// Moves inputs that failed validation to the quarantine with their reason. Each run has its own
/// folder, so earlier quarantined copies stay; each source is removed only if it still holds the
/// bytes that were checked; and the move is idempotent — reason.json, written last, marks it done.
/// </summary>
public static class Quarantine
{
    public static string RecordPath(string area, string name, string run) => BlobLayout.QuarantinePrefix(area, name, run) + "reason.json";

    /// <summary>The record of an earlier (possibly interrupted, then retried) move by this run; null when there was none.</summary>
    public static Task<QuarantineRecord?> FindAsync(PipelineStorage storage, string area, string name, string run, CancellationToken cancellation = default) =>
        storage.ReadJsonAsync<QuarantineRecord>(RecordPath(area, name, run), cancellation);

    /// <param name="files">each pinned input with the name it gets inside the run's quarantine folder</param>
    public static async Task<QuarantineRecord> MoveAsync(PipelineStorage storage, string area, string name, string run,
        IEnumerable<(BlobPin File, string As)> files, string reason, DateTime now, CancellationToken cancellation = default)
    {
        if (await FindAsync(storage, area, name, run, cancellation) is { } done) return done;
        string prefix = BlobLayout.QuarantinePrefix(area, name, run);
        var moved = new List<string>();
        var kept = new List<string>();
        foreach (var (file, asName) in files)
        {
            bool copied;
            try
            {
                copied = await storage.TryCopyCreateOnlyAsync(file, prefix + asName, cancellation);
            }
            catch (PinnedBlobChangedException)
            {
                copied = false;
            }
            if (copied && await storage.DeleteIfUnchangedAsync(file, cancellation)) moved.Add(file.Path);
            else kept.Add(file.Path);
        }
        var record = new QuarantineRecord(name, reason, run, moved, kept, now);
        await storage.TryWriteJsonAsync(RecordPath(area, name, run), record, ifMatch: null, cancellation);
        return await FindAsync(storage, area, name, run, cancellation) ?? record;
    }
}
