using GuidedNet.Imaging;
using GuidedNet.Imaging.Nifti;
using GuidedNet.Pipeline.Contracts;
using GuidedNet.Pipeline.Datasets;
using GuidedNet.Pipeline.Options;
using GuidedNet.Pipeline.Orchestrations;
using GuidedNet.Pipeline.Results;
using GuidedNet.Pipeline.Storage;
using GuidedNet.Pipeline.Validation;
using Microsoft.DurableTask;

namespace GuidedNet.Pipeline.Activities;

/// <summary>
/// Pins a dropped scan and validates it. The dropped version is kept in a snapshot (taken only if
/// the blob still holds that version), so the run reads exactly the bytes that were dropped even
/// when the same name is dropped again meanwhile; a blob already replaced supersedes the run (its
/// new content has its own run). A bad scan is moved to
/// <c>quarantine/scans/&lt;project&gt;/&lt;case&gt;/&lt;run&gt;/</c>; ground truth under
/// <c>scans/labels/&lt;project&gt;/&lt;case&gt;.nii.gz</c> is pinned and checked the same way, and a bad
/// one is quarantined alone while the scan is still segmented (without metrics).
/// </summary>
public sealed class ValidateScanActivity(PipelineStorage storage, TimeProvider clock) : TaskActivity<ScanDrop, ScanCheck>
{
    public override async Task<ScanCheck> RunAsync(TaskActivityContext context, ScanDrop drop)
    {
        var check = await CheckAsync(drop);
        if (check.Outcome != ScanOutcome.Accepted)
            Telemetry.PipelineTelemetry.ScansProcessed.Add(1, new KeyValuePair<string, object?>(Telemetry.PipelineTelemetry.Tags.Outcome,
                check.Outcome == ScanOutcome.Quarantined ? ScanRunStates.Quarantined : ScanRunStates.Superseded));
        return check;
    }

    private async Task<ScanCheck> CheckAsync(ScanDrop drop)
    {
        string run = RunIds.ContentKey(drop.Scan);
        string area = Quarantine.ScanArea(drop.Project);
        if (await Quarantine.FindAsync(storage, area, drop.Case, run) is { } earlier)
        {
            // This run quarantined the scan before (a retry), or was moving it when it was interrupted: finish that.
            var record = earlier.Complete ? earlier
                : await Quarantine.MoveAsync(storage, area, drop.Case, run, new[] { (await PinnedOrGoneAsync(drop.Scan), Path.GetFileName(drop.Scan.Path)) },
                    earlier.Reason, clock.GetUtcNow().UtcDateTime);
            return new ScanCheck(ScanOutcome.Quarantined, record.Reason, null, null, null);
        }

        BlobPin scan;
        try
        {
            scan = await storage.SnapshotAsync(drop.Scan, "it was dropped");
        }
        catch (PinnedBlobChangedException e)
        {
            return new ScanCheck(ScanOutcome.Superseded, $"{e.Message}; the new content has its own run", null, null, null);
        }
        using var temp = new TempFolder();
        var (scanProblem, volume) = await CheckAsync(scan, temp, (file, pin) =>
        {
            string? problem = CaseValidator.CheckImage(file, pin.Path, out var image);
            return (problem, image);
        });
        if (scanProblem is not null)
        {
            await Quarantine.MoveAsync(storage, area, drop.Case, run, new[] { (scan, Path.GetFileName(scan.Path)) }, scanProblem, clock.GetUtcNow().UtcDateTime);
            return new ScanCheck(ScanOutcome.Quarantined, scanProblem, null, null, null);
        }

        var labelEntry = await storage.GetAsync(BlobLayout.ScanLabel(drop.Project, drop.Case));
        if (labelEntry is null) return new ScanCheck(ScanOutcome.Accepted, null, scan, null, null);
        BlobPin label;
        try
        {
            label = await storage.SnapshotAsync(labelEntry.Pin(), "it was listed");
        }
        catch (PinnedBlobChangedException e)
        {
            return new ScanCheck(ScanOutcome.Accepted, null, scan, null, $"{e.Message}; the scan is segmented without metrics");
        }
        // Without the project's dataset.json the label can only be checked for shape and integer values.
        int numClasses = (await DatasetDescription.ReadAsync(storage, drop.Project))?.NumClasses ?? 65536;
        var (labelProblem, _) = await CheckAsync(label, temp, (file, pin) => (CaseValidator.CheckLabel(file, pin.Path, volume!, numClasses), (ImageGrid?)null));
        if (labelProblem is null) return new ScanCheck(ScanOutcome.Accepted, null, scan, label, null);
        await Quarantine.MoveAsync(storage, area, Quarantine.LabelName(drop.Case), run, new[] { (label, Path.GetFileName(label.Path)) }, labelProblem, clock.GetUtcNow().UtcDateTime);
        return new ScanCheck(ScanOutcome.Accepted, null, scan, null, labelProblem);
    }

    /// <summary>The dropped version's snapshot; the bare pin once the interrupted move deleted the blob (and its snapshots).</summary>
    private async Task<BlobPin> PinnedOrGoneAsync(BlobPin dropped)
    {
        try
        {
            return await storage.SnapshotAsync(dropped, "it was dropped");
        }
        catch (PinnedBlobChangedException)
        {
            return dropped;
        }
    }

    /// <summary>Downloads the pinned file and checks it; anything the check throws is the file's problem (as for dataset cases).</summary>
    private async Task<(string? Problem, ImageGrid? Grid)> CheckAsync(BlobPin pin, TempFolder temp,
        Func<string, BlobPin, (string?, ImageGrid?)> check)
    {
        if (CaseValidator.NameProblem(pin.Path) is { } badName) return (badName, null);
        string file = temp.File(Guid.NewGuid().ToString("N") + ScanFileNames.Extension(pin.Path));
        try
        {
            await storage.DownloadPinnedAsync(pin, file, "it was dropped");
            return check(file, pin);
        }
        catch (Exception e) when (ValidateCasesActivity.IsProblemOfTheCase(e))
        {
            return ($"{pin.Path}: could not be checked: {e.GetType().Name}: {e.Message}", null);
        }
    }
}

/// <param name="Scan">the pinned (snapshot) scan the run segmented</param>
public sealed record PublishScanInput(ScanDrop Drop, string Run, string ResultPrefix, BlobPin Scan);

/// <summary>What publishing a scan's result changed.</summary>
public sealed record PublishedScan(bool IsLatest, int Cases);

/// <summary>
/// After a scan's result is committed to its run folder: points the case's latest.json at it unless
/// a newer drop of the case already has a result, puts the case's row into the project's summary, and adds the scan
/// to the project's dataset as an unlabeled training case when the dataset has no case of that name
/// and the project's pool takes dropped scans (<see cref="PoolOptions.JoinDroppedScans"/>).
/// </summary>
public sealed class PublishScanResultActivity(PipelineStorage storage, PoolOptions pool, TimeProvider clock) : TaskActivity<PublishScanInput, PublishedScan>
{
    public override async Task<PublishedScan> RunAsync(TaskActivityContext context, PublishScanInput input)
    {
        var drop = input.Drop;
        var now = clock.GetUtcNow().UtcDateTime;
        // The same bytes dropped again while this run was going: that drop is this run's too.
        var lastModified = drop.LastModified;
        if (await storage.GetAsync(drop.Scan.Path) is { } current && current.ContentHash == drop.Scan.ContentHash && current.LastModified > lastModified)
            lastModified = current.LastModified;
        var latest = new LatestResult(input.Run, input.ResultPrefix, BlobLayout.Report(input.ResultPrefix), input.Scan, lastModified, drop.ObservedUtc, now);
        bool isLatest = await CaseResults.AdvanceLatestAsync(storage, drop.Project, drop.Case, latest);
        var report = await storage.ReadJsonAsync<ScanReport>(latest.Report)
            ?? throw new InvalidOperationException($"{latest.Report}: the run's report is missing; it is committed before the result is published");
        int cases = await ProjectSummary.UpdateAsync(storage, drop.Project, SummaryRow.From(latest, report), now);
        if (pool.For(drop.Project).JoinDroppedScans) await JoinUnlabeledPoolAsync(drop.Project, drop.Case, input.Scan);
        Telemetry.PipelineTelemetry.ScansProcessed.Add(1, new KeyValuePair<string, object?>(Telemetry.PipelineTelemetry.Tags.Outcome, ScanRunStates.Segmented));
        return new PublishedScan(isLatest, cases);
    }

    /// <summary>Copies the segmented bytes into imagesTr; a case of that name already in the dataset (labeled or not) is never replaced.</summary>
    private async Task JoinUnlabeledPoolAsync(string project, string caseName, BlobPin scan)
    {
        if (!await storage.ExistsAsync(BlobLayout.DatasetJson(project))) return;
        string prefix = BlobLayout.DatasetPrefix(project) + "imagesTr/";
        if ((await storage.ListAsync(prefix + caseName)).Any(b => ScanFileNames.CaseName(b.Path) == caseName)) return;
        await storage.TryCopyCreateOnlyAsync(scan, BlobLayout.TrainingImage(project, caseName, scan.Path));
        // A reviewed label dropped before its scan joins with it.
        await new ReviewedLabels(storage, clock).JoinDroppedLabelAsync(project, caseName);
    }
}
