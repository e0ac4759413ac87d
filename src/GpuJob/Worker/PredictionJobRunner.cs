using System.Diagnostics;
using System.Security.Cryptography;
using GuidedNet.Runtime;
using GuidedNet.GpuJob.Cli;
using GuidedNet.Evaluation;
using GuidedNet.Imaging;
using GuidedNet.Imaging.Dicom;
using GuidedNet.Imaging.Labels;
using GuidedNet.Imaging.Nifti;
using GuidedNet.Imaging.Rendering;
using GuidedNet.Inference;
using GuidedNet.Models;
using GuidedNet.Pipeline.Contracts;
using GuidedNet.Pipeline.Jobs;
using GuidedNet.Pipeline.Jobs.Worker;
using GuidedNet.Pipeline.Storage;
using TorchSharp;

namespace GuidedNet.GpuJob.Worker;

/// <summary>
/// Runs a prediction job on exactly the pinned bytes of the dropped scan (and of its ground
/// truth): the model stays loaded across messages (reloaded only when a job names another one);
/// the mask (in the scan's own geometry), the preview and then report.json are staged for the
/// run's result folder — report.json last, naming the scan's blob, ETag and MD5, the model version
/// and the mask's MD5.
/// </summary>
public sealed class PredictionJobRunner(PipelineStorage storage, torch.Device device, WorkFolder work, bool ensemble = false, FastMode? fast = null,
    ComputeThread? compute = null)
    : IJobRunner, IDisposable
{
    private string? _modelPath;
    private LoadedModel? _model;
    private CasePredictor? _predictor;
    private string _prediction = "exact";

    public async Task<bool> RunAsync(JobAttempt attempt, CancellationToken cancellation)
    {
        var message = attempt.Message;
        var job = message.Predict ?? throw new InvalidDataException($"job {message.JobId}: a predict job without its predict section");
        var progress = attempt.Progress;
        var log = attempt.Log;
        using var temp = new TempFolder();
        var clock = Stopwatch.StartNew();

        progress.Phase(JobPhases.Downloading);
        await LoadModelAsync(job.ModelPath, log, cancellation);
        string scanFile = temp.File("scan" + ScanFileNames.Extension(job.Scan.Path));
        string scanMd5 = await storage.DownloadPinnedAsync(job.Scan, scanFile, "it was dropped", cancellation);
        var (scan, dicom) = ScanReader.Load(scanFile);
        Volume? truth = null;
        string? labelMd5 = null;
        if (job.Label is { } label)
        {
            string labelFile = temp.File("label.nii.gz");
            labelMd5 = await storage.DownloadPinnedAsync(label, labelFile, "it was validated", cancellation);
            truth = NiftiReader.Read(labelFile);
        }

        progress.Phase(JobPhases.Predicting);
        var predictor = _predictor!;
        var prediction = compute is null ? predictor.Predict(scan, job.Scan.Path, null, cancellation)
            : await compute.RunAsync(() => predictor.Predict(scan, job.Scan.Path, null, cancellation));
        progress.AddTiming("preprocess", prediction.Preprocessing.TotalSeconds);
        progress.AddTiming("model", prediction.Model.TotalSeconds);
        progress.AddTiming("restore", prediction.Restoring.TotalSeconds);

        progress.Phase(JobPhases.Metrics);
        var organs = Organs(scan, prediction.Mask, truth, job.Label?.Path);

        progress.Phase(JobPhases.Uploading);
        string maskName = $"{job.Case}_seg.nii.gz", previewName = "preview.png";
        string maskFile = temp.File(maskName), previewFile = temp.File(previewName), reportFile = temp.File("report.json");
        NiftiWriter.Write(maskFile, prediction.Mask, NiftiDataType.UInt8);
        var labels = _model!.Metadata.Labels();
        labels.Write(temp.File(LabelTable.FileName));
        // A DICOM scan also gets its DICOM SEG, which a PACS files beside the series (none when no organ was found).
        string segName = $"{job.Case}.seg.dcm";
        bool hasSeg = dicom is not null && SegmentationWriter.Write(temp.File(segName), prediction.Mask, dicom, labels, GuidedNetCli.Version) > 0;
        SegmentationPreview.Write(previewFile, scan, prediction.Mask, labels);
        string maskMd5;
        await using (var maskBytes = File.OpenRead(maskFile))
            maskMd5 = Convert.ToHexString(await MD5.HashDataAsync(maskBytes, cancellation)).ToLowerInvariant();

        var timings = progress.Timings();
        timings["total"] = clock.Elapsed.TotalSeconds;
        var labeled = organs.Where(o => o.Dice.HasValue).ToList();
        var report = new ScanReport
        {
            Project = job.Project,
            Case = job.Case,
            Run = job.Run,
            Scan = job.Scan with { Md5 = scanMd5 },
            Label = job.Label is { } l ? l with { Md5 = labelMd5 } : null,
            Model = job.ModelPath,
            ModelVersion = job.ModelVersion,
            Mask = job.ResultPrefix + maskName,
            MaskMd5 = maskMd5,
            Preview = job.ResultPrefix + previewName,
            Labels = job.ResultPrefix + LabelTable.FileName,
            Seg = hasSeg ? job.ResultPrefix + segName : null,
            Size = new[] { scan.SizeX, scan.SizeY, scan.SizeZ },
            SpacingMm = new[] { scan.Spacing.X, scan.Spacing.Y, scan.Spacing.Z },
            Organs = organs,
            MeanDice = labeled.Count > 0 ? labeled.Average(o => o.Dice!.Value) : null,
            TimingsSeconds = timings,
            Prediction = _prediction,
            CreatedUtc = DateTime.UtcNow,
            JobId = message.JobId,
        };
        await File.WriteAllBytesAsync(reportFile, System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(report, PipelineStorage.Json), cancellation);
        await attempt.StageOutputAsync(report.Mask, maskFile, cancellation);
        await attempt.StageOutputAsync(job.ResultPrefix + previewName, previewFile, cancellation);
        await attempt.StageOutputAsync(report.Labels!, temp.File(LabelTable.FileName), cancellation);
        if (report.Seg is { } seg) await attempt.StageOutputAsync(seg, temp.File(segName), cancellation);
        await attempt.StageOutputAsync(BlobLayout.Report(job.ResultPrefix), reportFile, cancellation);
        log.WriteLine($"{message.JobId}: {job.Case} segmented in {clock.Elapsed.TotalSeconds:F1} s (model {prediction.Model.TotalSeconds:F1} s)" +
                      (report.MeanDice is { } d ? $", mean Dice {d:F4}" : ""));
        return true;
    }

    private async Task LoadModelAsync(string modelPath, TextWriter log, CancellationToken cancellation)
    {
        if (_modelPath == modelPath && _model is not null) return;
        if (!modelPath.EndsWith("/" + BlobLayout.ModelFile, StringComparison.Ordinal))
            throw new InvalidDataException($"{modelPath}: production models are {BlobLayout.ModelFile} files written by training");
        string local = work.Model(modelPath);
        if (!File.Exists(local))
        {
            work.EnforceBudget();
            await storage.DownloadFileAsync(modelPath, local, cancellation);
        }
        _model?.Dispose();
        // A single-network model has nothing to average: the ensemble setting applies to pairs only.
        _model = ModelFile.Load(local, device, guidedNetFormatOnly: true, ensemble: ensemble && ModelFile.ReadMetadata(local).Networks == 2);
        var modelFast = (fast ?? FastMode.Exact).ForModel(_model.Metadata);
        var windows = modelFast.Apply(new SlidingWindowOptions { Patch = _model.Metadata.Patch, Gaussian = true }, device);
        _prediction = FastMode.Describe(windows, modelFast, device);
        _predictor = new CasePredictor(_model, device, windows, _model.Plan());
        _modelPath = modelPath;
        log.WriteLine($"model {modelPath} loaded: {_model.Metadata.NumClasses} classes, width {_model.Metadata.BaseChannels}, " +
                      (_model.Networks.Count == 2 ? "ensemble of both networks" : $"network {_model.Metadata.PreferredNetwork}") + $"; prediction: {_prediction}");
    }

    /// <summary>Volume of each organ in the mask; with ground truth, its Dice, HD95 and ASD (MedPy's definitions).</summary>
    private List<OrganReport> Organs(Volume scan, Volume mask, Volume? truth, string? truthPath)
    {
        var labels = _model!.Metadata.Labels();
        var statistics = OrganStatistics.Compute(scan, mask, labels).ToDictionary(o => o.Label);
        int classes = _model.Metadata.NumClasses;
        var s = mask.Spacing;
        double voxelMl = s.X * s.Y * s.Z / 1000.0;
        int[] predicted = LabelMap.ToLabels(mask.Voxels, "mask");
        var counts = new long[classes];
        foreach (int v in predicted) if (v < classes) counts[v]++;
        IReadOnlyList<ClassMetrics>? metrics = null;
        if (truth is not null)
        {
            if (!truth.SameGrid(mask))
                throw new InvalidDataException($"{truthPath}: {truth.SizeX}x{truth.SizeY}x{truth.SizeZ} voxels, but the scan has {mask.SizeX}x{mask.SizeY}x{mask.SizeZ}");
            metrics = SegmentationMetrics.Compute(predicted, LabelMap.ToLabels(truth.Voxels, truthPath!), mask.SizeZ, mask.SizeY, mask.SizeX,
                (s.Z, s.Y, s.X), Enumerable.Range(1, classes - 1));
        }
        return Enumerable.Range(1, classes - 1).Select(k =>
        {
            var m = metrics?.FirstOrDefault(x => x.Label == k);
            return new OrganReport(k, labels.NameOf(k), counts[k] * voxelMl, counts[k],
                m is { Absent: false } ? m.Dice : null, m is { Absent: false } ? m.Hd95 : null, m is { Absent: false } ? m.Asd : null,
                statistics.GetValueOrDefault(k));
        }).ToList();
    }

    public void Dispose() => _model?.Dispose();
}
