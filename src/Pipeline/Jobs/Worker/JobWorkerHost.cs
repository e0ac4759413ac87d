using System.Diagnostics;
using GuidedNet.Pipeline.Contracts;
using GuidedNet.Pipeline.Options;
using GuidedNet.Pipeline.Storage;
using GuidedNet.Pipeline.Transport;
using TorchSharp;

namespace GuidedNet.GpuJob.Worker;

/// <summary>
/// <c>guidednet worker</c>'s loop: take a job message, run it with heartbeats, finish it.
/// Every message is handled idempotently against the job's status.json: a finished job or an
/// outdated attempt is dropped, a message delivered too often is poisoned and its job failed with
/// the reason, and a stop request (SIGTERM) checkpoints a training job and releases its message.
/// </summary>
public sealed class JobWorker : IAsyncDisposable
{
    private readonly PipelineStorage _storage;
    private readonly IJobQueue _queue;
    private readonly JobOptions _jobs;
    private readonly WorkerOptions _options;
    private readonly JobLog _log;
    private readonly TrainingJobRunner _training;
    private readonly PredictionJobRunner _prediction;

    public JobWorker(PipelineStorage storage, IJobQueue queue, JobOptions jobs, WorkerOptions options, torch.Device device, TextWriter log)
    {
        _storage = storage;
        _queue = queue;
        _jobs = jobs;
        _options = options;
        _log = new JobLog(log);
        Directory.CreateDirectory(options.WorkFolder);
        _training = new TrainingJobRunner(storage, device, options.WorkFolder, _log);
        _prediction = new PredictionJobRunner(storage, device, options.WorkFolder, _log);
    }

    /// <summary>Processes messages until stopped (or idle for <see cref="WorkerOptions.IdleExit"/>); returns how many jobs ran.</summary>
    public async Task<int> RunAsync(CancellationToken stop)
    {
        int ran = 0;
        var idle = Stopwatch.StartNew();
        while (!stop.IsCancellationRequested)
        {
            IJobDelivery? delivery;
            try
            {
                delivery = await _queue.ReceiveAsync(stop);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                break;
            }
            if (delivery is null)
            {
                if (_options.IdleExit > TimeSpan.Zero && idle.Elapsed > _options.IdleExit) break;
                try
                {
                    await Task.Delay(_options.EmptyPoll, stop);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
                continue;
            }
            if (await HandleAsync(delivery, stop)) ran++;
            idle.Restart();
        }
        _log.WriteLine($"worker {_options.Name}: stopping after {ran} job(s)");
        return ran;
    }

    /// <summary>One delivery; true when a job ran.</summary>
    private async Task<bool> HandleAsync(IJobDelivery delivery, CancellationToken stop)
    {
        if (delivery.Message is not { } message)
        {
            _log.WriteLine($"worker {_options.Name}: a message that is not a job ({Shorten(delivery.Body)}) → poison queue");
            await delivery.PoisonAsync("not a job message");
            return false;
        }
        string statusPath = BlobLayout.JobStatus(message.JobId);
        var status = await _storage.ReadJsonAsync<JobStatus>(statusPath) ?? NewStatus(message);
        if (status.State == JobState.Succeeded || status.Attempt > message.Attempt || (status.IsTerminal && status.Attempt >= message.Attempt))
        {
            _log.WriteLine($"{message.JobId}: attempt {message.Attempt} is stale (job {status.State}, attempt {status.Attempt}); message dropped");
            await delivery.CompleteAsync();
            return false;
        }
        if (await _storage.ExistsAsync(BlobLayout.JobCancel(message.JobId)))
        {
            await _storage.WriteJsonAsync(statusPath, status with { State = JobState.Cancelled, Phase = "cancelled", FinishedUtc = DateTime.UtcNow });
            await delivery.CompleteAsync();
            return false;
        }
        if (delivery.DeliveryCount > _jobs.MaxDeliveryCount)
        {
            await PoisonAsync(delivery, statusPath, status, $"delivered {delivery.DeliveryCount} times; last error: {status.Error ?? "none recorded"}");
            return false;
        }

        var started = DateTime.UtcNow;
        status = status with
        {
            State = JobState.Running,
            Attempt = message.Attempt,
            Worker = _options.Name,
            StartedUtc = started,
            HeartbeatUtc = started,
            Phase = "starting",
            Timings = new Dictionary<string, double> { ["queueWait"] = Math.Max(0, (started - status.QueuedUtc).TotalSeconds) },
        };
        await _storage.WriteJsonAsync(statusPath, status);
        _log.Begin($"== {started:O} attempt {message.Attempt}, delivery {delivery.DeliveryCount}, worker {_options.Name}");
        _log.WriteLine($"{message.JobId}: {message.Kind} attempt {message.Attempt} (delivery {delivery.DeliveryCount}) on {_options.Name}");

        var progress = new JobProgress();
        using var jobCancel = CancellationTokenSource.CreateLinkedTokenSource(stop);
        bool cancelRequested = false;
        using var heartbeatStop = new CancellationTokenSource();
        var heartbeat = Task.Run(async () =>
        {
            var renewEvery = TimeSpan.FromTicks(_jobs.VisibilityTimeout.Ticks / 3);
            var lastRenew = Stopwatch.StartNew();
            while (!heartbeatStop.IsCancellationRequested)
            {
                try
                {
                    await Task.Delay(_options.Heartbeat, heartbeatStop.Token);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
                try
                {
                    await _storage.WriteJsonAsync(statusPath, progress.Apply(status) with { HeartbeatUtc = DateTime.UtcNow });
                    if (lastRenew.Elapsed >= renewEvery)
                    {
                        await delivery.RenewAsync();
                        lastRenew.Restart();
                    }
                    if (!cancelRequested && await _storage.ExistsAsync(BlobLayout.JobCancel(message.JobId)))
                    {
                        cancelRequested = true;
                        jobCancel.Cancel();
                    }
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    _log.WriteLine($"{message.JobId}: heartbeat failed: {e.Message}");
                }
            }
        });

        JobState outcome;
        bool permanent = false;
        string[] outputs = Array.Empty<string>();
        string? error = null;
        try
        {
            if (message.Kind == JobKind.Train)
            {
                var (completed, files) = await _training.RunAsync(message, progress, jobCancel.Token);
                outputs = files;
                outcome = completed ? JobState.Succeeded : cancelRequested ? JobState.Cancelled : JobState.Queued;
            }
            else
            {
                outputs = await _prediction.RunAsync(message, progress, jobCancel.Token);
                outcome = JobState.Succeeded;
            }
        }
        catch (OperationCanceledException) when (jobCancel.IsCancellationRequested)
        {
            outcome = cancelRequested ? JobState.Cancelled : JobState.Queued;
        }
        catch (Exception e)
        {
            outcome = JobState.Failed;
            error = $"{e.GetType().Name}: {e.Message}";
            permanent = e is ArgumentException or InvalidDataException or Imaging.Nifti.NiftiFormatException;
            _log.WriteLine($"{message.JobId}: failed{(permanent ? " (not retried: the job itself is invalid)" : "")}: {error}");
        }
        heartbeatStop.Cancel();
        await heartbeat;

        var final = progress.Apply(status) with { HeartbeatUtc = DateTime.UtcNow, Timings = Merge(status.Timings, progress.Timings()) };
        switch (outcome)
        {
            case JobState.Succeeded:
                await _storage.WriteJsonAsync(statusPath, final with { State = JobState.Succeeded, Phase = "done", Outputs = outputs, Error = null, FinishedUtc = DateTime.UtcNow });
                await delivery.CompleteAsync();
                _log.WriteLine($"{message.JobId}: succeeded");
                break;
            case JobState.Cancelled:
                await _storage.WriteJsonAsync(statusPath, final with { State = JobState.Cancelled, Phase = "cancelled", FinishedUtc = DateTime.UtcNow });
                await delivery.CompleteAsync();
                _log.WriteLine($"{message.JobId}: cancelled on request");
                break;
            case JobState.Queued:
                // Shutdown: the checkpoint is stored; the message goes back for the next worker.
                await _storage.WriteJsonAsync(statusPath, final with { State = JobState.Queued, Phase = "released", QueuedUtc = DateTime.UtcNow });
                await delivery.ReleaseAsync();
                _log.WriteLine($"{message.JobId}: released for another worker");
                break;
            default:
                var failed = final with { Error = error };
                if (permanent)
                {
                    await PoisonAsync(delivery, statusPath, failed, $"invalid job: {error}");
                }
                else if (delivery.DeliveryCount >= _jobs.MaxDeliveryCount)
                {
                    await PoisonAsync(delivery, statusPath, failed, $"failed on each of {delivery.DeliveryCount} deliveries; last error: {error}");
                }
                else
                {
                    await _storage.WriteJsonAsync(statusPath, failed with { State = JobState.Queued, Phase = "retrying", QueuedUtc = DateTime.UtcNow });
                    await delivery.ReleaseAsync();
                }
                break;
        }
        await AppendLogAsync(message.JobId);
        return true;
    }

    /// <summary>Adds this attempt's output to jobs/&lt;id&gt;/log.txt (earlier attempts stay above it).</summary>
    private async Task AppendLogAsync(string jobId)
    {
        string text = _log.End();
        try
        {
            string path = BlobLayout.JobLog(jobId);
            byte[] earlier = await _storage.ExistsAsync(path) ? await _storage.ReadBytesAsync(path, 64 << 20) : Array.Empty<byte>();
            await _storage.WriteBytesAsync(path, earlier.Concat(System.Text.Encoding.UTF8.GetBytes(text)).ToArray(), "text/plain");
        }
        catch (Exception e) when (e is Azure.RequestFailedException or InvalidDataException)
        {
            _log.WriteLine($"{jobId}: could not store log.txt: {e.Message}");
        }
    }

    private async Task PoisonAsync(IJobDelivery delivery, string statusPath, JobStatus status, string reason)
    {
        _log.WriteLine($"{status.JobId}: {reason} → poison queue, job failed");
        await _storage.WriteJsonAsync(statusPath, status with { State = JobState.Failed, Phase = "poisoned", Error = reason, FinishedUtc = DateTime.UtcNow });
        await delivery.PoisonAsync(reason);
    }

    private static JobStatus NewStatus(JobMessage message) =>
        new() { JobId = message.JobId, Kind = message.Kind, Attempt = message.Attempt, State = JobState.Queued, QueuedUtc = DateTime.UtcNow };

    private static Dictionary<string, double> Merge(Dictionary<string, double> a, Dictionary<string, double> b)
    {
        var merged = new Dictionary<string, double>(a);
        foreach (var (k, v) in b) merged[k] = merged.GetValueOrDefault(k) + v;
        return merged;
    }

    private static string Shorten(string s) => s.Length > 80 ? s[..80] + "…" : s;

    public async ValueTask DisposeAsync()
    {
        _prediction.Dispose();
        await _queue.DisposeAsync();
    }
}
