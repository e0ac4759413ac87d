using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text.Json;
using GuidedNet.Imaging;
using GuidedNet.Imaging.Nifti;
using GuidedNet.Pipeline.Contracts;
using GuidedNet.Pipeline.Jobs;
using GuidedNet.Pipeline.Jobs.Worker;
using GuidedNet.Pipeline.Storage;

namespace GuidedNet.Pipeline.Tests.Infrastructure;

/// <summary>
/// A job runner for tests of the protocol and the orchestrations: it produces the outputs a real
/// runner would (a model folder with metrics.json; a mask in the scan's grid made from the pinned
/// scan bytes, a preview and a report naming them), through the same <see cref="JobAttempt"/>
/// calls, in milliseconds. A test can replace <see cref="Behavior"/> to block on a gate, fail, or
/// stop like a SIGTERMed worker.
/// </summary>
public sealed class FakeJobRunner : IJobRunner
{
    private int _runs;

    /// <summary>The validation mean Dice a fake training run reports.</summary>
    public double ValidationDice { get; set; } = 0.75;

    public Func<JobAttempt, CancellationToken, Task<bool>>? Behavior { get; set; }

    public int Runs => _runs;
    public ConcurrentQueue<JobAttempt> Attempts { get; } = new();

    public Task<bool> RunAsync(JobAttempt attempt, CancellationToken cancellation)
    {
        Interlocked.Increment(ref _runs);
        Attempts.Enqueue(attempt);
        return (Behavior ?? ProduceOutputsAsync)(attempt, cancellation);
    }

    /// <summary>
    /// Makes every run (or those <paramref name="only"/> picks) signal <c>started</c> and wait for
    /// <c>release</c> before it produces its outputs: a worker frozen mid-job where the test chooses.
    /// </summary>
    public (TaskCompletionSource Started, TaskCompletionSource Release) HoldRuns(Func<JobAttempt, bool>? only = null)
    {
        var started = new TaskCompletionSource();
        var release = new TaskCompletionSource();
        Behavior = async (attempt, ct) =>
        {
            if (only?.Invoke(attempt) ?? true)
            {
                started.TrySetResult();
                await release.Task.WaitAsync(ct);
            }
            return await ProduceOutputsAsync(attempt, ct);
        };
        return (started, release);
    }

    /// <summary>What a real runner stages for the job's kind.</summary>
    public async Task<bool> ProduceOutputsAsync(JobAttempt attempt, CancellationToken cancellation)
    {
        using var temp = new TempFolder();
        if (attempt.Message.Train is { } train)
        {
            attempt.Progress.Phase(JobPhases.Training);
            string model = temp.File("model"), metrics = temp.File("metrics.json");
            await File.WriteAllBytesAsync(model, RandomNumberGenerator.GetBytes(64), cancellation);
            await File.WriteAllBytesAsync(metrics, JsonSerializer.SerializeToUtf8Bytes(
                new ModelMetrics(train.Version, ValidationDice, 5, 5, new Dictionary<string, double?> { ["large"] = ValidationDice }, 0.1), PipelineStorage.Json), cancellation);
            await attempt.StageOutputAsync(train.ModelPrefix + BlobLayout.ModelFile, model, cancellation);
            await attempt.StageOutputAsync(train.ModelPrefix + BlobLayout.MetricsFile, metrics, cancellation);
            return true;
        }

        var predict = attempt.Message.Predict!;
        attempt.Progress.Phase(JobPhases.Downloading);
        string scanFile = temp.File("scan.nii.gz");
        string scanMd5 = await attempt.Storage.DownloadPinnedAsync(predict.Scan, scanFile, "it was dropped", cancellation);
        var scan = NiftiReader.Read(scanFile);
        // A "segmentation" that depends on the scan's bytes: voxels above the mean are organ 1.
        float mean = scan.Voxels.Average();
        var mask = new Volume(scan.SizeX, scan.SizeY, scan.SizeZ, scan.Voxels.Select(v => v > mean ? 1f : 0f).ToArray(), scan.Affine);
        string maskFile = temp.File("mask.nii.gz"), reportFile = temp.File("report.json");
        NiftiWriter.Write(maskFile, mask, NiftiDataType.UInt8);
        string maskMd5 = Convert.ToHexString(MD5.HashData(await File.ReadAllBytesAsync(maskFile, cancellation))).ToLowerInvariant();
        var report = new ScanReport
        {
            Project = predict.Project, Case = predict.Case, Run = predict.Run, Scan = predict.Scan with { Md5 = scanMd5 }, Model = predict.ModelPath,
            ModelVersion = predict.ModelVersion, Mask = predict.ResultPrefix + $"{predict.Case}_seg.nii.gz", MaskMd5 = maskMd5,
            Size = new[] { scan.SizeX, scan.SizeY, scan.SizeZ }, SpacingMm = new[] { scan.Spacing.X, scan.Spacing.Y, scan.Spacing.Z },
            Organs = new[] { new OrganReport(1, "large", mask.Voxels.Count(v => v == 1), mask.Voxels.Count(v => v == 1), null, null, null) },
            TimingsSeconds = new() { ["model"] = 0.01 }, CreatedUtc = DateTime.UtcNow, JobId = attempt.JobId,
        };
        await File.WriteAllBytesAsync(reportFile, JsonSerializer.SerializeToUtf8Bytes(report, PipelineStorage.Json), cancellation);
        await attempt.StageOutputAsync(report.Mask, maskFile, cancellation);
        await attempt.StageOutputAsync(BlobLayout.Report(predict.ResultPrefix), reportFile, cancellation);
        return true;
    }
}
