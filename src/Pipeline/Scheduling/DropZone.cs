using System.Security.Cryptography;
using System.Text;
using GuidedNet.Imaging;
using GuidedNet.Imaging.Nifti;
using GuidedNet.Pipeline.Activities;
using GuidedNet.Pipeline.Contracts;
using GuidedNet.Pipeline.Datasets;
using GuidedNet.Pipeline.Jobs;
using GuidedNet.Pipeline.Options;
using GuidedNet.Pipeline.Orchestrations;
using GuidedNet.Pipeline.Results;
using GuidedNet.Pipeline.Storage;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;

namespace GuidedNet.Pipeline.Scheduling;

/// <summary>
/// Turns blobs under <c>scans/incoming/&lt;project&gt;/</c> into segmentation runs. A run is one content
/// of one case (<see cref="RunIds.ScanRun"/>): the same bytes dropped twice, or seen by the trigger
/// and a poll, are one run and one result. A drop is one version (ETag) of the blob: a new drop of
/// content whose run failed, was cancelled, superseded or quarantined starts that run again; a new
/// drop of content already segmented makes that result the case's latest again.
/// </summary>
/// <param name="pollPageSize">how many blobs a poll lists at most per area (<see cref="ScheduleOptions.DropZonePageSize"/>)</param>
/// <param name="project">poll only this project's drops (tests sharing one storage account keep apart by project); null: every project's</param>
public sealed class DropZone(DurableTaskClient client, PipelineStorage storage, JobOptions jobs, TimeProvider clock,
    int pollPageSize = ScheduleOptions.DefaultDropZonePageSize, string? project = null)
{
    // Drops (run, ETag) already handled, so a poll asks the durable backend only about new ones.
    // Bounded: past the limit it starts over, and the backend answers for the ones it forgot.
    private const int KnownDropsLimit = 100_000;

    /// <summary>How many runs one poll starts at once.</summary>
    private const int ConcurrentStarts = 8;
    private readonly HashSet<string> _known = new();

    // Where the next poll goes on listing each area (null: from the start). Only PollAsync's one
    // caller (the local host's poller) touches them.
    private string? _scansMarker, _labelsMarker;

    /// <summary>
    /// One poll of the drop zone (the local host's stand-in for Event Grid): starts the runs of new
    /// scans, and joins new reviewed labels to their datasets; returns the runs it started. A poll
    /// lists one page of each area and the next goes on from there (starting over after the last),
    /// so its cost is bounded by the page size, not by the number of scans ever dropped; a new drop
    /// is seen within one pass, ⌈blobs / page size⌉ polls.
    /// </summary>
    public async Task<IReadOnlyList<string>> PollAsync(CancellationToken cancellation = default)
    {
        string scope = project is null ? "" : project + "/";
        (var scans, _scansMarker) = await storage.ListPageAsync($"{BlobLayout.Scans}/{BlobLayout.IncomingPrefix}{scope}", _scansMarker, pollPageSize, cancellation);
        // Several at once: starting a run is a few round trips to the durable backend, and a batch
        // of drops started one after another waited that long per scan before it (measured: 40 scans
        // dropped together, median 17 s from landing to dispatch).
        var started = new string?[scans.Count];
        await Parallel.ForEachAsync(Enumerable.Range(0, scans.Count), new ParallelOptions { MaxDegreeOfParallelism = ConcurrentStarts, CancellationToken = cancellation },
            async (i, token) => started[i] = await StartAsync(scans[i], token));
        (var labels, _labelsMarker) = await storage.ListPageAsync($"{BlobLayout.Scans}/{BlobLayout.LabelsPrefix}{scope}", _labelsMarker, pollPageSize, cancellation);
        foreach (var label in labels)
            await JoinLabelAsync(label, cancellation);
        return started.OfType<string>().ToList();
    }

    /// <summary>
    /// A reviewed label's version seen for the first time goes to <see cref="ReviewedLabels"/>, once:
    /// one waiting for its scan joins when the scan joins the pool (PublishScanResultActivity).
    /// </summary>
    public async Task<ReviewedLabelOutcome?> JoinLabelAsync(BlobEntry label, CancellationToken cancellation = default)
    {
        string key = $"label {label.Path} {label.ETag}";
        lock (_known)
            if (_known.Contains(key)) return null;
        var outcome = await new ReviewedLabels(storage, clock).JoinAsync(label, cancellation);
        Remember(key);
        return outcome;
    }

    /// <summary>Starts (or restarts) the run for one dropped blob version; null when nothing was started.</summary>
    public async Task<string?> StartAsync(BlobEntry blob, CancellationToken cancellation = default)
    {
        if (Parse(blob) is not { } drop) return null;
        string id = RunIds.ScanRun(drop.Project, drop.Case, drop.Scan);
        string key = $"{id} {blob.ETag}";
        lock (_known)
            if (_known.Contains(key)) return null;

        var existing = await client.GetInstanceAsync(id, getInputsAndOutputs: true, cancellation);
        if (existing is null)
        {
            string? started = await ScheduleAsync(id, drop, cancellation);
            Remember(key);
            return started;
        }
        var earlier = existing.ReadInputAs<SegmentScanInput>();
        if (earlier?.Drop.Scan.ETag == drop.Scan.ETag || !existing.IsCompleted)
        {
            // The same drop seen again, or a drop of content whose run is still going (it publishes
            // with the newer drop's time: PublishScanResultActivity reads the blob again).
            Remember(key);
            return null;
        }
        var result = existing.RuntimeStatus == OrchestrationRuntimeStatus.Completed ? existing.ReadOutputAs<ScanRunResult>() : null;
        if (result is { State: ScanRunStates.Segmented, ResultPrefix: { } prefix })
        {
            // Already segmented: this newer drop of the same bytes makes that result the latest again.
            var now = clock.GetUtcNow().UtcDateTime;
            var report = await storage.ReadJsonAsync<ScanReport>(BlobLayout.Report(prefix), cancellation);
            if (report is not null)
            {
                var latest = new LatestResult(id, prefix, BlobLayout.Report(prefix), report.Scan, drop.LastModified, drop.ObservedUtc, now);
                await CaseResults.AdvanceLatestAsync(storage, drop.Project, drop.Case, latest, cancellation);
                await ProjectSummary.UpdateAsync(storage, drop.Project, SummaryRow.From(latest, report), now, cancellation);
            }
            Remember(key);
            return null;
        }
        // Failed, terminated, superseded or quarantined: a new drop is a retry.
        await client.PurgeInstanceAsync(id, cancellation: cancellation);
        string? restarted = await ScheduleAsync(id, drop, cancellation);
        Remember(key);
        return restarted;
    }

    /// <summary>The drop a blob under scans/incoming/ stands for; null when the blob is not &lt;project&gt;/&lt;file&gt;.</summary>
    private ScanDrop? Parse(BlobEntry blob)
    {
        var (_, name) = BlobLayout.Split(blob.Path);
        var parts = name[BlobLayout.IncomingPrefix.Length..].Split('/');
        if (parts.Length != 2 || !BlobLayout.IsValidName(parts[0])) return null; // not ours to process
        string caseName = ScanFileNames.CaseName(parts[1]);
        // A file name that is not a valid case name still gets a run, which quarantines it with its reason.
        if (!BlobLayout.IsValidName(caseName)) caseName = "invalid-" + Convert.ToHexString(SHA1.HashData(Encoding.UTF8.GetBytes(parts[1])))[..8].ToLowerInvariant();
        return new ScanDrop(parts[0], caseName, blob.Pin(), blob.LastModified, clock.GetUtcNow().UtcDateTime);
    }

    private async Task<string?> ScheduleAsync(string id, ScanDrop drop, CancellationToken cancellation)
    {
        try
        {
            await client.ScheduleNewOrchestrationInstanceAsync(TaskNames.SegmentScan, new SegmentScanInput(drop, MonitorSettings.From(jobs)),
                new StartOrchestrationOptions { InstanceId = id }, cancellation);
            return id;
        }
        catch (Exception)
        {
            if (await client.GetInstanceAsync(id, getInputsAndOutputs: false, cancellation) is not null) return null; // another trigger of this drop started it first
            throw;
        }
    }

    private void Remember(string key)
    {
        lock (_known)
        {
            if (_known.Count >= KnownDropsLimit) _known.Clear();
            _known.Add(key);
        }
    }
}
