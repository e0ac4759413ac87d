using GuidedNet.Data;
using GuidedNet.Pipeline.Contracts;
using GuidedNet.Pipeline.Storage;
using GuidedNet.Training;
using TorchSharp;

namespace GuidedNet.GpuJob.Worker;

/// <summary>
/// Runs a training job: the manifest's cases are downloaded into a local MSD folder, training
/// resumes from the job's blob checkpoint when a previous attempt left one, the checkpoint is
/// uploaded every checkpoint interval, and the model folder is uploaded with metrics.json last —
/// its presence is what says the model is complete.
/// </summary>
public sealed class TrainingJobRunner(PipelineStorage storage, torch.Device device, string workFolder, TextWriter log)
{
    /// <summary>Runs the job; false when cancelled (the checkpoint is uploaded first).</summary>
    public async Task<(bool Completed, string[] Outputs)> RunAsync(JobMessage message, JobProgress progress, CancellationToken cancellation)
    {
        var job = message.Train ?? throw new InvalidDataException($"job {message.JobId}: a train job without its train section");
        string root = Path.Combine(workFolder, message.JobId);
        string datasetFolder = Path.Combine(root, "dataset"), outFolder = Path.Combine(root, "out");

        progress.Phase("downloading");
        var manifest = await storage.ReadJsonAsync<DatasetManifest>(job.ManifestPath, cancellation)
                       ?? throw new FileNotFoundException($"{job.ManifestPath}: manifest not found");
        await DownloadDatasetAsync(job, manifest, datasetFolder, cancellation);
        string checkpointBlob = BlobLayout.JobCheckpoint(message.JobId);
        bool resume = await storage.ExistsAsync(checkpointBlob, cancellation);
        if (resume) await storage.DownloadFileAsync(checkpointBlob, Path.Combine(outFolder, Trainer.CheckpointFile), cancellation);

        progress.Phase("preprocessing");
        var options = Options(job.Settings, manifest.NumClasses);
        var dataset = MsdDataset.Open(datasetFolder);
        var data = TrainingData.Prepare(dataset, options, Path.Combine(root, "cache"), log);
        log.WriteLine($"{message.JobId}: {data.Labeled.Count} labeled, {data.Unlabeled.Count} unlabeled, {data.Validation.Count} validation cases; " +
                      $"{options.Iterations} iterations{(resume ? ", resuming from the checkpoint" : "")}");

        progress.Phase("training");
        using var trainer = new Trainer(options, data, device, outFolder, dataset.LabelNames);
        var reporter = new CheckpointUploader(storage, checkpointBlob, Path.Combine(outFolder, Trainer.CheckpointFile), options.CheckpointEvery, progress, resume, log);
        var result = trainer.Run(resume, reporter, cancellation);
        if (!result.Completed)
        {
            await storage.UploadFileAsync(checkpointBlob, Path.Combine(outFolder, Trainer.CheckpointFile), CancellationToken.None);
            progress.Checkpoint(checkpointBlob);
            return (false, Array.Empty<string>());
        }

        progress.Phase("uploading");
        var outputs = new List<string>();
        // The trainer's files under the names the pipeline's model layout gives them.
        foreach (var (local, blob) in new[] { (Trainer.ModelFileName, BlobLayout.ModelFile), (TrainingHistory.FileName, BlobLayout.TrainingFile), (TrainingHistory.CurvesFileName, BlobLayout.CurvesFile) })
        {
            await storage.UploadFileAsync(job.ModelPrefix + blob, Path.Combine(outFolder, local), cancellation);
            outputs.Add(job.ModelPrefix + blob);
        }
        var history = trainer.History;
        var best = history.Validations.FirstOrDefault(v => v.Iteration == history.BestIteration) ?? history.Validations.LastOrDefault();
        var metrics = new ModelMetrics(job.Version, history.BestMeanDice, history.BestIteration, result.Iterations,
            best?.DiceByClass ?? new Dictionary<string, double?>(), history.WallSeconds);
        await storage.WriteJsonAsync(job.ModelPrefix + BlobLayout.MetricsFile, metrics, cancellation);
        outputs.Add(job.ModelPrefix + BlobLayout.MetricsFile);
        return (true, outputs.ToArray());
    }

    /// <summary>The request on top of its preset; the class count comes from the dataset's manifest.</summary>
    public static TrainingOptions Options(TrainRequest request, int numClasses)
    {
        var options = TrainingOptions.FromPreset(request.Preset);
        var mode = TrainingOptions.ParseMode(request.Mode);
        options = options with
        {
            Mode = mode,
            NumClasses = numClasses,
            LabeledCases = request.Labeled,
            LabeledFraction = request.LabeledFraction,
            ValidationFraction = request.ValidationFraction,
            Iterations = request.Iterations ?? options.Iterations,
            Patch = request.Patch ?? options.Patch,
            BatchSize = request.Batch ?? options.BatchSize,
            LabeledBatchSize = request.LabeledBatch ?? options.LabeledBatchSize,
            BaseChannels = request.BaseChannels ?? options.BaseChannels,
            RampupIterations = request.RampupIterations ?? options.RampupIterations,
            ValidateEvery = request.ValidateEvery ?? options.ValidateEvery,
            CheckpointEvery = request.CheckpointEvery ?? options.CheckpointEvery,
            Seed = request.Seed,
        };
        if (mode == TrainingMode.Supervised && request.Batch is null) options = options with { BatchSize = options.LabeledBatchSize };
        options.Validate();
        return options;
    }

    private async Task DownloadDatasetAsync(TrainJob job, DatasetManifest manifest, string folder, CancellationToken cancellation)
    {
        await storage.DownloadFileAsync(BlobLayout.DatasetJson(job.Dataset), Path.Combine(folder, "dataset.json"), cancellation);
        await Parallel.ForEachAsync(manifest.Cases, new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = cancellation }, async (c, ct) =>
        {
            string image = Path.Combine(folder, "imagesTr", c.Name + "_0000" + Extension(c.ImagePath));
            if (!File.Exists(image)) await storage.DownloadFileAsync(c.ImagePath, image, ct);
            if (c.LabelPath is null) return;
            string label = Path.Combine(folder, "labelsTr", c.Name + Extension(c.LabelPath));
            if (!File.Exists(label)) await storage.DownloadFileAsync(c.LabelPath, label, ct);
        });
    }

    private static string Extension(string path) => path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? ".nii.gz" : ".nii";

    /// <summary>
    /// Progress from the trainer: records it for the heartbeat and, right after the trainer has
    /// written a checkpoint, uploads it, so a worker that dies loses at most one interval.
    /// </summary>
    private sealed class CheckpointUploader(PipelineStorage storage, string blob, string file, int every, JobProgress progress, bool resumed, TextWriter log)
        : IProgress<TrainingProgress>
    {
        private bool _first = true;
        private DateTime _lastLine = DateTime.MinValue;

        public void Report(TrainingProgress p)
        {
            if (_first && resumed) progress.Resumed(p.Iteration - 1);
            _first = false;
            progress.Training(p.Iteration, p.Total, p.Losses, p.LastValidationDice);
            if (p.Iteration % every == 0 && p.Iteration < p.Total && File.Exists(file))
            {
                storage.UploadFileAsync(blob, file).GetAwaiter().GetResult();
                progress.Checkpoint(blob);
            }
            if (DateTime.UtcNow - _lastLine > TimeSpan.FromSeconds(5) || p.Iteration == p.Total)
            {
                _lastLine = DateTime.UtcNow;
                log.WriteLine($"it {p.Iteration}/{p.Total} total {p.Losses.GetValueOrDefault("total"):F4} | {p.IterationsPerSecond:F2} it/s | ETA {p.Remaining:hh\\:mm\\:ss}");
            }
        }
    }
}
