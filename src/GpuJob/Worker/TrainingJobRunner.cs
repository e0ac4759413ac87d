using GuidedNet.Runtime;
using GuidedNet.Data;
using GuidedNet.Pipeline.Contracts;
using GuidedNet.Pipeline.Datasets;
using GuidedNet.Pipeline.Jobs;
using GuidedNet.Pipeline.Jobs.Worker;
using GuidedNet.Pipeline.Storage;
using GuidedNet.Training;
using TorchSharp;

namespace GuidedNet.GpuJob.Worker;

/// <summary>
/// Runs a training job: the manifest's pinned cases are downloaded into a local MSD folder,
/// training resumes from the job's last checkpoint when an earlier attempt (or claim) left one,
/// every checkpoint the trainer writes is stored through the attempt (refused once the attempt is
/// superseded), and the model folder is staged with metrics.json last — its presence is what says
/// the model is complete. The job's local folder is removed once its outputs are uploaded (or its
/// checkpoint is, when it stops early); a failed job's stays for a retry here, within the work
/// folder's disk budget.
/// </summary>
public sealed class TrainingJobRunner(PipelineStorage storage, torch.Device device, WorkFolder work, ComputeThread? compute = null) : IJobRunner
{
    /// <summary>Runs the job; false when cancelled (the checkpoint is stored first).</summary>
    public async Task<bool> RunAsync(JobAttempt attempt, CancellationToken cancellation)
    {
        var message = attempt.Message;
        var job = message.Train ?? throw new InvalidDataException($"job {message.JobId}: a train job without its train section");
        var progress = attempt.Progress;
        var log = attempt.Log;
        string root = work.Job(message.JobId);
        work.EnforceBudget(root);
        string datasetFolder = Path.Combine(root, "dataset"), outFolder = Path.Combine(root, $"attempt-{attempt.Number}");
        // This attempt starts clean, and an earlier one that died on this machine leaves nothing behind
        // (its checkpoint, if it stored one, is the job's resume point in storage).
        foreach (string earlier in Directory.Exists(root) ? Directory.GetDirectories(root, "attempt-*") : [])
            Directory.Delete(earlier, recursive: true);
        Directory.CreateDirectory(outFolder);
        string checkpointFile = Path.Combine(outFolder, Trainer.CheckpointFile);

        progress.Phase(JobPhases.Downloading);
        var manifest = await storage.ReadJsonAsync<DatasetManifest>(job.ManifestPath, cancellation)
                       ?? throw new InvalidDataException($"{job.ManifestPath}: manifest not found");
        await ManifestFiles.DownloadAsync(storage, manifest, datasetFolder, cancellation);
        bool resume = attempt.ResumeCheckpoint is not null;
        if (attempt.ResumeCheckpoint is { } checkpoint) await storage.DownloadFileAsync(checkpoint, checkpointFile, cancellation);

        progress.Phase(JobPhases.Preprocessing);
        var options = job.Settings.ToOptions(manifest.NumClasses);
        var dataset = MsdDataset.Open(datasetFolder);
        var data = TrainingData.Prepare(dataset, options, Path.Combine(root, "cache"), log);
        log.WriteLine($"{message.JobId}: {data.Labeled.Count} labeled, {data.Unlabeled.Count} unlabeled, {data.Validation.Count} validation cases; " +
                      $"{options.Iterations} iterations{(resume ? $", resuming from {attempt.ResumeCheckpoint}" : "")}");

        progress.Phase(JobPhases.Training);
        using var trainer = new Trainer(options, data, device, outFolder, dataset.LabelNames);
        var reporter = new CheckpointReporter(attempt, checkpointFile, options.CheckpointEvery, resume);
        var result = compute is null ? trainer.Run(resume, reporter, cancellation)
            : await compute.RunAsync(() => trainer.Run(resume, reporter, cancellation));
        if (!result.Completed)
        {
            // The job's token is cancelled by now; the checkpoint still goes out (unless the attempt was superseded).
            await attempt.SaveCheckpointAsync(checkpointFile, CancellationToken.None);
            work.ReleaseJob(message.JobId);
            return false;
        }

        progress.Phase(JobPhases.Uploading);
        // The trainer's files under the names the pipeline's model layout gives them; metrics.json last.
        foreach (var (local, blob) in new[] { (Trainer.ModelFileName, BlobLayout.ModelFile), (TrainingHistory.FileName, BlobLayout.TrainingFile), (TrainingHistory.CurvesFileName, BlobLayout.CurvesFile) })
            await attempt.StageOutputAsync(job.ModelPrefix + blob, Path.Combine(outFolder, local), cancellation);
        var history = trainer.History;
        var best = history.Validations.FirstOrDefault(v => v.Iteration == history.BestIteration) ?? history.Validations.LastOrDefault();
        var metrics = new ModelMetrics(job.Version, history.BestMeanDice, history.BestIteration, result.Iterations,
            best?.DiceByClass ?? new Dictionary<string, double?>(), history.WallSeconds,
            new CaseCounts(data.Labeled.Count, data.Unlabeled.Count, data.Validation.Count), history.KeepLargestComponent,
            history.FastMode?.Chosen, history.FastMode?.Reason);
        string metricsFile = Path.Combine(outFolder, BlobLayout.MetricsFile);
        await File.WriteAllBytesAsync(metricsFile, System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(metrics, PipelineStorage.Json), cancellation);
        await attempt.StageOutputAsync(job.ModelPrefix + BlobLayout.MetricsFile, metricsFile, cancellation);
        work.ReleaseJob(message.JobId);
        return true;
    }

    /// <summary>
    /// Progress from the trainer: records it for the heartbeat and, right after the trainer has
    /// written a checkpoint, stores it through the attempt, so a worker that dies loses at most one
    /// interval. A superseded attempt's store is refused: the exception ends the training.
    /// </summary>
    private sealed class CheckpointReporter(JobAttempt attempt, string file, int every, bool resumed) : IProgress<TrainingProgress>
    {
        private bool _first = true;
        private DateTime _lastLine = DateTime.MinValue;

        public void Report(TrainingProgress p)
        {
            if (_first && resumed) attempt.Progress.Resumed(p.Iteration - 1);
            _first = false;
            attempt.Progress.Training(p.Iteration, p.Total, p.Losses, p.LastValidationDice);
            if (p.Iteration % every == 0 && p.Iteration < p.Total && File.Exists(file))
                attempt.SaveCheckpointAsync(file).GetAwaiter().GetResult();
            if (DateTime.UtcNow - _lastLine > TimeSpan.FromSeconds(5) || p.Iteration == p.Total)
            {
                _lastLine = DateTime.UtcNow;
                attempt.Log.WriteLine($"it {p.Iteration}/{p.Total} total {p.Losses.GetValueOrDefault("total"):F4} | {p.IterationsPerSecond:F2} it/s | ETA {p.Remaining:hh\\:mm\\:ss}");
            }
        }
    }
}
