using System.Globalization;
using System.Text;
using Azure;
using Azure.Storage.Blobs.Models;
using GuidedNet.Imaging.Nifti;
using GuidedNet.Pipeline.Contracts;
using GuidedNet.Pipeline.Storage;
using GuidedNet.Pipeline.Validation;
using Microsoft.DurableTask;

namespace GuidedNet.Pipeline.Activities;

/// <summary>
/// Validates a dropped scan and its ground truth, when <c>scans/labels/&lt;project&gt;/&lt;case&gt;.nii.gz</c> exists.
/// A bad scan is moved to <c>quarantine/scans/&lt;project&gt;/&lt;case&gt;/</c> with its reason; a bad label is
/// quarantined alone and the scan is still segmented (without metrics).
/// </summary>
public sealed class ValidateScanActivity(PipelineStorage storage) : TaskActivity<ScanDrop, ScanCheck>
{
    public override async Task<ScanCheck> RunAsync(TaskActivityContext context, ScanDrop drop)
    {
        using var temp = new TempFolder();
        string area = "scans/" + drop.Project;
        string image = temp.File(Path.GetFileName(drop.ScanPath));
        await storage.DownloadFileAsync(drop.ScanPath, image);
        string? reason = CaseValidator.CheckImage(image, drop.ScanPath, out var volume);
        if (reason is not null)
        {
            await Quarantine.MoveAsync(storage, area, drop.Case, new[] { drop.ScanPath }, reason, CancellationToken.None);
            return new ScanCheck(false, reason, null);
        }

        string labelPath = BlobLayout.ScanLabel(drop.Project, drop.Case);
        if (!await storage.ExistsAsync(labelPath)) return new ScanCheck(true, null, null);
        // Without the project's dataset.json the label can only be checked for shape and integer values.
        int numClasses = await DatasetDescription.ReadClassCountAsync(storage, drop.Project) ?? 65536;
        string label = temp.File("label.nii.gz");
        await storage.DownloadFileAsync(labelPath, label);
        string? labelProblem = CaseValidator.CheckLabel(label, labelPath, volume!, numClasses);
        if (labelProblem is null) return new ScanCheck(true, null, labelPath);
        await Quarantine.MoveAsync(storage, area, drop.Case + "-label", new[] { labelPath }, labelProblem, CancellationToken.None);
        return new ScanCheck(true, labelProblem, null);
    }
}

public sealed record PublishScanInput(string Project, string Case, string ScanPath);

/// <summary>
/// After a scan's results are written: rebuilds the project's summary.json / summary.csv from
/// every report.json, and adds the scan to the project's dataset as an unlabeled training case.
/// </summary>
public sealed class PublishScanResultActivity(PipelineStorage storage) : TaskActivity<PublishScanInput, int>
{
    public override async Task<int> RunAsync(TaskActivityContext context, PublishScanInput input)
    {
        int cases = await SummaryWriter.RebuildAsync(storage, input.Project);
        await JoinUnlabeledPoolAsync(input);
        return cases;
    }

    private async Task JoinUnlabeledPoolAsync(PublishScanInput input)
    {
        if (!await storage.ExistsAsync(BlobLayout.DatasetJson(input.Project))) return;
        string target = BlobLayout.TrainingImage(input.Project, input.Case);
        string prefix = BlobLayout.DatasetPrefix(input.Project);
        bool known = await storage.ExistsAsync(target)
                     || (await storage.ListAsync(prefix + "imagesTr/" + input.Case)).Any(b => NiftiFileNames.CaseName(b.Path) == input.Case);
        if (!known) await storage.CopyAsync(input.ScanPath, target);
    }
}

/// <summary>
/// A project's batch summary, rebuilt from all its reports. Writes are conditional on the summary
/// not having changed since the rebuild began, so concurrent scans never lose each other's rows.
/// </summary>
public static class SummaryWriter
{
    public static async Task<int> RebuildAsync(PipelineStorage storage, string project)
    {
        for (int attempt = 0; ; attempt++)
        {
            var blob = storage.Blob(BlobLayout.Summary(project));
            ETag? etag = null;
            try
            {
                etag = (await blob.GetPropertiesAsync()).Value.ETag;
            }
            catch (RequestFailedException missing) when (missing.Status == 404)
            {
                // no summary yet: the first write must create it
            }
            var reports = new List<ScanReport>();
            foreach (var entry in await storage.ListAsync($"{BlobLayout.Results}/{project}/"))
                if (entry.Path.EndsWith("/report.json", StringComparison.Ordinal) && await storage.ReadJsonAsync<ScanReport>(entry.Path) is { } r)
                    reports.Add(r);
            var labeled = reports.Where(r => r.MeanDice.HasValue).ToList();
            var summary = new
            {
                project,
                updatedUtc = DateTime.UtcNow,
                cases = reports.Count,
                meanDice = labeled.Count > 0 ? labeled.Average(r => r.MeanDice!.Value) : (double?)null,
                reports = reports.Select(r => new { r.Case, r.ModelVersion, r.MeanDice, volumesMl = r.Organs.ToDictionary(o => o.Name, o => o.VolumeMl), r.CreatedUtc }),
            };
            var conditions = etag is { } current ? new BlobRequestConditions { IfMatch = current } : new BlobRequestConditions { IfNoneMatch = ETag.All };
            try
            {
                await blob.UploadAsync(BinaryData.FromObjectAsJson(summary, PipelineStorage.Json), new BlobUploadOptions { Conditions = conditions });
            }
            catch (RequestFailedException ex) when ((ex.Status is 409 or 412) && attempt < 20)
            {
                continue; // another scan rebuilt it meanwhile: rebuild again from the newer state
            }
            await storage.WriteBytesAsync(BlobLayout.SummaryCsv(project), Encoding.UTF8.GetBytes(Csv(reports)), "text/csv");
            return reports.Count;
        }
    }

    private static string Csv(List<ScanReport> reports)
    {
        var organs = reports.SelectMany(r => r.Organs.Select(o => o.Name)).Distinct().ToList();
        var csv = new StringBuilder("case,model_version,mean_dice");
        foreach (string o in organs) csv.Append(CultureInfo.InvariantCulture, $",{o}_ml,{o}_dice");
        csv.AppendLine();
        foreach (var r in reports)
        {
            csv.Append(CultureInfo.InvariantCulture, $"{r.Case},{r.ModelVersion},{r.MeanDice?.ToString("F4", CultureInfo.InvariantCulture)}");
            foreach (string o in organs)
            {
                var organ = r.Organs.FirstOrDefault(x => x.Name == o);
                csv.Append(CultureInfo.InvariantCulture, $",{organ?.VolumeMl.ToString("F2", CultureInfo.InvariantCulture)},{organ?.Dice?.ToString("F4", CultureInfo.InvariantCulture)}");
            }
            csv.AppendLine();
        }
        return csv.ToString();
    }
}
