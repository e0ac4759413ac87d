using GuidedNet.Imaging;
using GuidedNet.Pipeline.Orchestrations;
using GuidedNet.Pipeline.Storage;
using GuidedNet.Pipeline.Validation;

namespace GuidedNet.Pipeline.Datasets;

/// <summary>
/// <c>datasets/&lt;project&gt;/provenance/&lt;case&gt;.json</c>: where a label that joined the dataset
/// from review came from — the dropped label and the pool image it was checked against, as pinned.
/// </summary>
public sealed record LabelProvenance(string Case, BlobPin Label, BlobPin Image, DateTime JoinedUtc, string Source = "reviewed label drop");

/// <summary>What became of a dropped label (<see cref="ReviewedLabels.JoinAsync"/>).</summary>
public sealed record ReviewedLabelOutcome(string State, string Detail)
{
    /// <summary>Validated and copied to labelsTr: the case is labeled from the next training run on.</summary>
    public const string Joined = "joined";
    /// <summary>The dataset already has a label for the case; a dataset's label is never replaced by a drop.</summary>
    public const string AlreadyLabeled = "already-labeled";
    /// <summary>No scan of that case is in the pool (yet): the label joins when its scan does.</summary>
    public const string WaitingForScan = "waiting-for-scan";
    /// <summary>The label does not fit its scan or the dataset's classes: moved to quarantine with the reason.</summary>
    public const string Quarantined = "quarantined";
    /// <summary>Not <c>scans/labels/&lt;project&gt;/&lt;case&gt;.nii.gz</c> of a project with a dataset.</summary>
    public const string Ignored = "ignored";
}

/// <summary>
/// Reviewed labels close the loop: a label dropped under <c>scans/labels/&lt;project&gt;/&lt;case&gt;.nii.gz</c>
/// for a scan already in the project's unlabeled pool is checked against that scan and the
/// dataset's classes (as dataset cases are) and copied, server-side and create-only, to
/// <c>labelsTr/&lt;case&gt;.nii.gz</c> with a provenance record — so the next scheduled retraining sees
/// the case as newly labeled. Idempotent: a retry or a second trigger finds the case labeled.
/// </summary>
public sealed class ReviewedLabels(PipelineStorage storage, TimeProvider clock)
{
    /// <summary>Joins the label blob to its project's dataset when it can (see the outcome's states).</summary>
    public async Task<ReviewedLabelOutcome> JoinAsync(BlobEntry label, CancellationToken cancellation = default)
    {
        var (container, name) = BlobLayout.Split(label.Path);
        var parts = container == BlobLayout.Scans && name.StartsWith(BlobLayout.LabelsPrefix, StringComparison.Ordinal)
            ? name[BlobLayout.LabelsPrefix.Length..].Split('/')
            : [];
        if (parts.Length != 2 || !BlobLayout.IsValidName(parts[0]) || !ScanFileNames.IsNifti(parts[1]))
            return new(ReviewedLabelOutcome.Ignored, $"{label.Path}: not scans/labels/<project>/<case>.nii.gz");
        string project = parts[0], caseName = ScanFileNames.CaseName(parts[1]);
        if (!BlobLayout.IsValidName(caseName))
            return new(ReviewedLabelOutcome.Ignored, $"{label.Path}: '{caseName}' is not a valid case name");
        var description = await DatasetDescription.ReadAsync(storage, project);
        if (description is null) return new(ReviewedLabelOutcome.Ignored, $"{label.Path}: project '{project}' has no dataset to join");

        string datasetPrefix = BlobLayout.DatasetPrefix(project);
        var image = (await storage.ListAsync(datasetPrefix + "imagesTr/" + caseName, cancellation))
            .FirstOrDefault(b => ScanFileNames.CaseName(b.Path) == caseName);
        var existing = (await storage.ListAsync(datasetPrefix + "labelsTr/" + caseName, cancellation))
            .FirstOrDefault(b => ScanFileNames.CaseName(b.Path) == caseName);
        if (existing is not null)
        {
            if (image is null || existing.Md5 is null || existing.Md5 != label.Md5)
                return new(ReviewedLabelOutcome.AlreadyLabeled, $"{datasetPrefix}labelsTr/ already labels '{caseName}'; the drop {label.Path} does not replace it");
            // These very bytes were copied by an earlier try that stopped before its record: finish it.
            await WriteProvenanceAsync(project, caseName, label.Pin(), image.Pin(), cancellation);
            return new(ReviewedLabelOutcome.Joined, $"{label.Path} -> {existing.Path}");
        }
        if (image is null)
            return new(ReviewedLabelOutcome.WaitingForScan, $"no scan of '{caseName}' in {datasetPrefix}imagesTr/ yet; {label.Path} joins when it does");

        var labelPin = label.Pin();
        var imagePin = image.Pin();
        string? problem;
        using (var temp = new TempFolder())
        {
            string imageFile = temp.File("image" + ScanFileNames.Extension(image.Path)), labelFile = temp.File("label.nii.gz");
            try
            {
                await storage.DownloadPinnedAsync(imagePin, imageFile, "it was listed", cancellation);
                await storage.DownloadPinnedAsync(labelPin, labelFile, "it was dropped", cancellation);
            }
            catch (PinnedBlobChangedException e)
            {
                // Replaced meanwhile: the new version has its own trigger.
                return new(ReviewedLabelOutcome.Ignored, e.Message);
            }
            problem = CaseValidator.CheckImage(imageFile, image.Path, out var grid)
                      ?? CaseValidator.CheckLabel(labelFile, label.Path, grid!, description.NumClasses);
        }
        var now = clock.GetUtcNow().UtcDateTime;
        if (problem is not null)
        {
            // One quarantine folder per dropped content, named as a scan run's, beside where a bad
            // label dropped with its scan goes (ValidateScanActivity).
            await Quarantine.MoveAsync(storage, Quarantine.ScanArea(project), Quarantine.LabelName(caseName), RunIds.ContentKey(labelPin),
                [(labelPin, Path.GetFileName(labelPin.Path))], problem, now, cancellation);
            return new(ReviewedLabelOutcome.Quarantined, problem);
        }
        string destination = BlobLayout.TrainingLabel(project, caseName, label.Path);
        if (!await storage.TryCopyCreateOnlyAsync(labelPin, destination, cancellation))
            return new(ReviewedLabelOutcome.AlreadyLabeled, $"{destination} appeared with other bytes meanwhile; it is kept");
        await WriteProvenanceAsync(project, caseName, labelPin, imagePin, cancellation);
        return new(ReviewedLabelOutcome.Joined, $"{label.Path} -> {destination}");
    }

    // Create-only: when two triggers both joined the same bytes, the first record stands.
    private Task WriteProvenanceAsync(string project, string caseName, BlobPin label, BlobPin image, CancellationToken cancellation) =>
        storage.TryWriteJsonAsync(BlobLayout.LabelProvenance(project, caseName),
            new LabelProvenance(caseName, label, image, clock.GetUtcNow().UtcDateTime), ifMatch: null, cancellation);

    /// <summary>After a scan joined the pool: its label, if one was dropped before it, joins too.</summary>
    public async Task<ReviewedLabelOutcome?> JoinDroppedLabelAsync(string project, string caseName, CancellationToken cancellation = default) =>
        await storage.GetAsync(BlobLayout.ScanLabel(project, caseName), cancellation) is { } label ? await JoinAsync(label, cancellation) : null;
}
