using GuidedNet.Imaging;
using Azure;
using GuidedNet.Imaging.Nifti;
using GuidedNet.Pipeline.Contracts;
using GuidedNet.Pipeline.Storage;
using GuidedNet.Pipeline.Validation;
using Microsoft.DurableTask;

namespace GuidedNet.Pipeline.Activities;

/// <summary>A dataset's files grouped by case name, each pinned as listed, with its class count and pinned dataset.json.</summary>
public sealed record DatasetListing(string Dataset, int NumClasses, BlobPin DatasetJson, IReadOnlyList<CaseFiles> Cases);

/// <summary>
/// Lists <c>datasets/&lt;name&gt;/</c>: every imagesTr and labelsTr file (NIfTI or not) grouped by case
/// name, so that a label without an image or two files claiming one case are seen and quarantined
/// by validation rather than silently picked.
/// </summary>
public sealed class ListDatasetCasesActivity(PipelineStorage storage) : TaskActivity<string, DatasetListing>
{
    public override async Task<DatasetListing> RunAsync(TaskActivityContext context, string dataset)
    {
        var description = await DatasetDescription.ReadAsync(storage, dataset)
                          ?? throw new InvalidDataException($"{BlobLayout.DatasetJson(dataset)}: missing; a dataset needs dataset.json with its labels");

        string prefix = BlobLayout.DatasetPrefix(dataset);
        var images = await storage.ListAsync(prefix + "imagesTr/");
        var labels = await storage.ListAsync(prefix + "labelsTr/");
        if (images.Count == 0) throw new InvalidDataException($"{prefix}imagesTr/: no images");
        var imagesByCase = images.ToLookup(i => ScanFileNames.CaseName(i.Path), StringComparer.Ordinal);
        var labelsByCase = labels.ToLookup(l => ScanFileNames.CaseName(l.Path), StringComparer.Ordinal);
        var cases = imagesByCase.Select(g => g.Key).Union(labelsByCase.Select(g => g.Key), StringComparer.Ordinal)
            .OrderBy(n => n, StringComparer.Ordinal)
            .Select(name => new CaseFiles(name,
                imagesByCase[name].Select(i => i.Pin()).ToList(),
                labelsByCase[name].Select(l => l.Pin()).ToList(),
                imagesByCase[name].Any() ? imagesByCase[name].Max(i => i.LastModified) : null))
            .ToList();
        return new DatasetListing(dataset, description.NumClasses, description.File, cases);
    }
}

public sealed record ValidateCasesInput(string Dataset, string Version, int NumClasses, IReadOnlyList<CaseFiles> Cases);

/// <summary>
/// Validates a batch of cases in parallel, each on exactly the bytes that were listed. A bad case
/// — unreadable, inconsistent, a duplicate name, or anything that throws while it is checked — is
/// moved (image and label) to <c>quarantine/datasets/&lt;dataset&gt;/&lt;case&gt;/&lt;version&gt;/</c> with a
/// reason.json naming the file and the problem. A case changed while it was checked is skipped and
/// left in place. Idempotent: on a retry, a case this run already quarantined counts as done, and
/// one whose move was interrupted is moved on with the recorded reason.
/// </summary>
public sealed class ValidateCasesActivity(PipelineStorage storage, TimeProvider clock) : TaskActivity<ValidateCasesInput, CaseCheck[]>
{
    public override async Task<CaseCheck[]> RunAsync(TaskActivityContext context, ValidateCasesInput input)
    {
        var checks = new CaseCheck[input.Cases.Count];
        await Parallel.ForEachAsync(Enumerable.Range(0, input.Cases.Count), new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (i, ct) =>
            checks[i] = await CheckCaseAsync(input, input.Cases[i], ct));
        return checks;
    }

    private async Task<CaseCheck> CheckCaseAsync(ValidateCasesInput input, CaseFiles c, CancellationToken cancellation)
    {
        string area = BlobLayout.Datasets + "/" + input.Dataset;
        var earlier = await Quarantine.FindAsync(storage, area, c.Name, input.Version, cancellation);
        if (earlier is { Complete: true }) return new CaseCheck(c.Name, CaseOutcome.Quarantined, earlier.Reason);

        // A pending record: an earlier try found the problem and was moving the files; finish that.
        string? problem = earlier?.Reason;
        if (problem is null)
        {
            try
            {
                problem = ListingProblem(c) ?? await CheckFilesAsync(c.Images[0], c.Labels.SingleOrDefault(), input.NumClasses, cancellation);
            }
            catch (PinnedBlobChangedException e)
            {
                return new CaseCheck(c.Name, CaseOutcome.Skipped, e.Message);
            }
            catch (Exception e) when (IsProblemOfTheCase(e))
            {
                problem = $"{c.Images.Concat(c.Labels).First().Path}: could not be checked: {e.GetType().Name}: {e.Message}";
            }
        }
        if (problem is null) return new CaseCheck(c.Name, CaseOutcome.Accepted, null, new CaseRef(c.Name, c.Images[0], c.Labels.SingleOrDefault()));

        string prefix = BlobLayout.DatasetPrefix(input.Dataset);
        var files = c.Images.Concat(c.Labels).Select(f => (f, f.Path[prefix.Length..]));
        var record = await Quarantine.MoveAsync(storage, area, c.Name, input.Version, files, problem, clock.GetUtcNow().UtcDateTime, cancellation);
        return record.Files.Count == 0
            ? new CaseCheck(c.Name, CaseOutcome.Skipped, $"{problem}; but its files changed after they were checked and were left in place")
            : new CaseCheck(c.Name, CaseOutcome.Quarantined, problem);
    }

    /// <summary>What the listing alone shows is wrong with a case: no image, or several files claiming it.</summary>
    private static string? ListingProblem(CaseFiles c) =>
        c.Images.Count == 0 ? $"{c.Labels[0].Path}: a label without an image in imagesTr"
        : c.Images.Count > 1 ? $"duplicate case name '{c.Name}': {string.Join(" and ", c.Images.Select(i => i.Path))} are all images of it"
        : c.Labels.Count > 1 ? $"duplicate case name '{c.Name}': {string.Join(" and ", c.Labels.Select(l => l.Path))} are all labels of it"
        : null;

    private async Task<string?> CheckFilesAsync(BlobPin image, BlobPin? label, int numClasses, CancellationToken cancellation)
    {
        string? badName = CaseValidator.NameProblem(image.Path) ?? (label is null ? null : CaseValidator.LabelNameProblem(label.Path));
        if (badName is not null) return badName;
        using var temp = new TempFolder();
        string imageFile = temp.File("image" + ScanFileNames.Extension(image.Path));
        await storage.DownloadPinnedAsync(image, imageFile, "it was listed", cancellation);
        string? reason = CaseValidator.CheckImage(imageFile, image.Path, out var volume);
        if (reason is not null || label is null) return reason;
        string labelFile = temp.File("label" + ScanFileNames.Extension(label.Path));
        await storage.DownloadPinnedAsync(label, labelFile, "it was listed", cancellation);
        return CaseValidator.CheckLabel(labelFile, label.Path, volume!, numClasses);
    }

    /// <summary>
    /// Whatever goes wrong while one case is checked is that case's problem — except storage or
    /// cancellation failures and running out of memory, which say nothing about the case: those fail
    /// the activity, which is retried.
    /// </summary>
    internal static bool IsProblemOfTheCase(Exception e) => e is not (OperationCanceledException or RequestFailedException or OutOfMemoryException);

}

/// <summary>Writes the versioned manifest of a training run's accepted, quarantined and skipped cases.</summary>
public sealed class WriteManifestActivity(PipelineStorage storage) : TaskActivity<DatasetManifest, string>
{
    public override async Task<string> RunAsync(TaskActivityContext context, DatasetManifest manifest)
    {
        string path = BlobLayout.Manifest(manifest.Dataset, manifest.Version);
        await storage.WriteJsonAsync(path, manifest);
        return path;
    }
}
