using GuidedNet.Imaging.Nifti;
using GuidedNet.Pipeline.Contracts;
using GuidedNet.Pipeline.Storage;
using GuidedNet.Pipeline.Validation;
using Microsoft.DurableTask;

namespace GuidedNet.Pipeline.Activities;

/// <summary>A dataset's cases by blob path and its class count from dataset.json.</summary>
public sealed record DatasetListing(string Dataset, int NumClasses, IReadOnlyList<CaseRef> Cases);

/// <summary>Lists <c>datasets/&lt;name&gt;/</c>: every imagesTr file (NIfTI or not) with its labelsTr file, and labels without an image.</summary>
public sealed class ListDatasetCasesActivity(PipelineStorage storage) : TaskActivity<string, DatasetListing>
{
    public override async Task<DatasetListing> RunAsync(TaskActivityContext context, string dataset)
    {
        int numClasses = await DatasetDescription.ReadClassCountAsync(storage, dataset)
                         ?? throw new InvalidDataException($"{BlobLayout.DatasetJson(dataset)}: missing; a dataset needs dataset.json with its labels");

        string prefix = BlobLayout.DatasetPrefix(dataset);
        var images = (await storage.ListAsync(prefix + "imagesTr/")).Select(b => b.Path).ToList();
        var labels = (await storage.ListAsync(prefix + "labelsTr/")).Select(b => b.Path).ToDictionary(p => NiftiFileNames.CaseName(p), p => p);
        var cases = new List<CaseRef>();
        foreach (string image in images)
        {
            string name = NiftiFileNames.CaseName(image);
            labels.Remove(name, out string? label);
            cases.Add(new CaseRef(name, image, label));
        }
        // A label with no image is reported (and quarantined) rather than silently ignored.
        cases.AddRange(labels.Select(kv => new CaseRef(kv.Key, "", kv.Value)));
        if (cases.Count == 0) throw new InvalidDataException($"{prefix}imagesTr/: no images");
        return new DatasetListing(dataset, numClasses, cases);
    }
}

public sealed record ValidateCasesInput(string Dataset, string Version, int NumClasses, IReadOnlyList<CaseRef> Cases);

/// <summary>
/// Validates a batch of cases in parallel; each bad case is moved (image and label) to
/// <c>quarantine/datasets/&lt;dataset&gt;/&lt;case&gt;/</c> with a reason.json naming the file and the problem.
/// </summary>
public sealed class ValidateCasesActivity(PipelineStorage storage) : TaskActivity<ValidateCasesInput, CaseCheck[]>
{
    public override async Task<CaseCheck[]> RunAsync(TaskActivityContext context, ValidateCasesInput input)
    {
        var checks = new CaseCheck[input.Cases.Count];
        await Parallel.ForEachAsync(Enumerable.Range(0, input.Cases.Count), new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (i, ct) =>
        {
            var c = input.Cases[i];
            string? reason = await CheckAsync(c, input.NumClasses, ct);
            if (reason is not null) await Quarantine.MoveAsync(storage, "datasets/" + input.Dataset, c.Name, new[] { c.ImagePath, c.LabelPath }, reason, ct);
            checks[i] = new CaseCheck(c.Name, reason is null, reason);
        });
        return checks;
    }

    private async Task<string?> CheckAsync(CaseRef c, int numClasses, CancellationToken cancellation)
    {
        if (c.ImagePath.Length == 0) return $"{c.LabelPath}: a label without an image in imagesTr";
        using var temp = new TempFolder();
        string image = temp.File("image" + Extension(c.ImagePath));
        await storage.DownloadFileAsync(c.ImagePath, image, cancellation);
        string? reason = CaseValidator.CheckImage(image, c.ImagePath, out var volume);
        if (reason is not null || c.LabelPath is null) return reason;
        string label = temp.File("label" + Extension(c.LabelPath));
        await storage.DownloadFileAsync(c.LabelPath, label, cancellation);
        return CaseValidator.CheckLabel(label, c.LabelPath, volume!, numClasses);
    }

    private static string Extension(string path) => path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? ".nii.gz" : ".nii";
}

/// <summary>Writes the versioned manifest of a training run's accepted and quarantined cases.</summary>
public sealed class WriteManifestActivity(PipelineStorage storage) : TaskActivity<DatasetManifest, string>
{
    public override async Task<string> RunAsync(TaskActivityContext context, DatasetManifest manifest)
    {
        string path = BlobLayout.Manifest(manifest.Dataset, manifest.Version);
        await storage.WriteJsonAsync(path, manifest);
        return path;
    }
}
