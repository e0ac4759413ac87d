using System.Diagnostics;
using Azure;
using GuidedNet.Pipeline.Jobs.Transport;
using GuidedNet.Pipeline.Options;
using GuidedNet.Pipeline.Storage;
using GuidedNet.Pipeline.Telemetry;

namespace GuidedNet.Pipeline.Jobs.Worker;

/// <summary>
/// The worker's end of the job protocol (<c>guidednet worker</c> runs it with the TorchSharp
/// runners; tests run it with fake ones): take a message, decide with
/// <see cref="JobOwnership.OnDelivery"/>, claim the attempt with a conditional write, run it with
/// heartbeats, and finish it with one more conditional write. A claim found superseded stops
/// within one heartbeat and writes nothing more; a stop request (SIGTERM) checkpoints a training
/// job and releases its message to the next worker. Every status it writes, except heartbeats, is
/// followed by a notice to the run that watches the job (<see cref="JobNotices"/>), when notices are on.
/// </summary>
public sealed class JobWorkerHost(JobStore store, IJobQueue queue, JobOptions jobs, WorkerOptions options,
    IReadOnlyDictionary<JobKind, IJobRunner> runners, TextWriter console, TimeProvider? clock = null, JobNoticeQueue? notices = null)
{
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;
    private readonly JobLog _log = new(console);

    /// <summary>The worker's console; what a job prints is also kept for its log.txt.</summary>
    public TextWriter Log => _log;

    private DateTime Now => _clock.GetUtcNow().UtcDateTime;

    /// <summary>Processes messages until stopped (or idle for <see cref="WorkerOptions.IdleExit"/>); returns how many attempts ran.</summary>
    public async Task<int> RunAsync(CancellationToken stop)
    {
        int ran = 0;
        var idle = Stopwatch.StartNew();
        while (!stop.IsCancellationRequested)
        {
            IJobDelivery? delivery;
            try
            {
                delivery = await queue.ReceiveAsync(stop);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                break;
            }
            if (delivery is null)
            {
                if (options.IdleExit > TimeSpan.Zero && idle.Elapsed > options.IdleExit) break;
                try
                {
                    await Task.Delay(options.EmptyPoll, _clock, stop);
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
        _log.WriteLine($"worker {options.Name}: stopping after {ran} job(s)");
        return ran;
    }

    /// <summary>One delivery; true when an attempt ran.</summary>
    public async Task<bool> HandleAsync(IJobDelivery delivery, CancellationToken stop)
    {
        if (delivery.Message is not { } message)
        {
            _log.WriteLine($"worker {options.Name}: a message that is not a job ({Shorten(delivery.Body)}) → poison queue");
            await delivery.PoisonAsync("not a job message");
            return false;
        }
        if (!runners.TryGetValue(message.Kind, out var runner))
        {
            _log.WriteLine($"{message.JobId}: this worker has no runner for {message.Kind} jobs; message released");
            await QuietlyAsync(() => delivery.ReleaseAsync(), message.JobId, "release");
            return false;
        }

        // The claim is a conditional write: when another actor changes status.json between the
        // read and the write, read again and decide again.
        for (int tries = 0; tries < 5; tries++)
        {
            var record = await store.ReadAsync(message.JobId);
            bool cancel = await store.IsCancelRequestedAsync(message.JobId);
            var decision = JobOwnership.OnDelivery(record?.Value, message, cancel, delivery.DeliveryCount, jobs.MaxDeliveryCount);
            switch (decision.Action)
            {
                case DeliveryAction.Drop:
                    _log.WriteLine($"{message.JobId}: attempt {message.Attempt} dropped: {decision.Reason}");
                    await QuietlyAsync(() => delivery.CompleteAsync(), message.JobId, "complete");
                    return false;
                case DeliveryAction.Cancel:
                    if (await store.TryWriteAsync(JobTransitions.Cancelled(record!.Value, Now), record.ETag) is not { } cancelled) continue;
                    await NotifyAsync(message, cancelled.Value);
                    _log.WriteLine($"{message.JobId}: {decision.Reason}; never ran");
                    await QuietlyAsync(() => delivery.CompleteAsync(), message.JobId, "complete");
                    return false;
                case DeliveryAction.Poison:
                    if (await store.TryWriteAsync(JobTransitions.Poisoned(record!.Value, decision.Reason, Now), record.ETag) is not { } poisoned) continue;
                    _log.WriteLine($"{message.JobId}: {decision.Reason} → poison queue, job failed");
                    await delivery.PoisonAsync(decision.Reason);
                    await NotifyAsync(message, poisoned.Value);
                    return false;
                case DeliveryAction.Run:
                    string owner = $"{options.Name}#{Guid.NewGuid().ToString("N")[..8]}";
                    var claimed = await store.TryWriteAsync(JobTransitions.Started(record!.Value, options.Name, owner, Now), record.ETag);
                    if (claimed is null) continue;
                    await NotifyAsync(message, claimed.Value);
                    await RunAttemptAsync(delivery, message, runner, claimed, stop);
                    return true;
            }
        }
        _log.WriteLine($"{message.JobId}: status.json kept changing while this worker tried to claim attempt {message.Attempt}; message released");
        await QuietlyAsync(() => delivery.ReleaseAsync(), message.JobId, "release");
        return false;
    }

    private async Task RunAttemptAsync(IJobDelivery delivery, JobMessage message, IJobRunner runner, Versioned<JobStatus> claimed, CancellationToken stop)
    {
        _log.Begin($"== {Now:O} attempt {message.Attempt}, delivery {delivery.DeliveryCount}, worker {options.Name}");
        _log.WriteLine($"{message.JobId}: {message.Kind} attempt {message.Attempt} (delivery {delivery.DeliveryCount}) on {options.Name}");
        string kind = message.Kind.ToString().ToLowerInvariant();
        if (claimed.Value.StartedUtc is { } started)
            PipelineTelemetry.QueueWait.Record(Math.Max(0, (started - claimed.Value.QueuedUtc).TotalSeconds), new KeyValuePair<string, object?>(PipelineTelemetry.Tags.JobKind, kind));
        var elapsed = Stopwatch.StartNew();
        using var span = PipelineTelemetry.StartRunSpan($"job {kind}", message.OrchestrationId, ActivityKind.Consumer);
        span?.SetTag(PipelineTelemetry.Tags.Job, message.JobId);
        span?.SetTag(PipelineTelemetry.Tags.JobKind, kind);
        span?.SetTag(PipelineTelemetry.Tags.Attempt, message.Attempt);
        span?.SetTag(PipelineTelemetry.Tags.Worker, options.Name);
        using var attempt = new JobAttempt(store, message, claimed, _log, _clock);
        if (span is not null) attempt.Progress.Trace(span.Context);
        using var cancelRequested = new CancellationTokenSource();
        using var run = CancellationTokenSource.CreateLinkedTokenSource(stop, attempt.Superseded, cancelRequested.Token);
        using var heartbeatStop = new CancellationTokenSource();
        var heartbeat = HeartbeatAsync(delivery, attempt, cancelRequested, heartbeatStop.Token);

        bool completed = false;
        Exception? failure = null;
        try
        {
            completed = await runner.RunAsync(attempt, run.Token);
        }
        catch (OperationCanceledException) when (run.IsCancellationRequested || attempt.IsSuperseded)
        {
        }
        catch (Exception e)
        {
            failure = e;
        }
        heartbeatStop.Cancel();
        await heartbeat;
        attempt.Progress.EndTrace();
        string outcome = attempt.IsSuperseded ? "superseded" : completed ? "succeeded" : failure is null && cancelRequested.IsCancellationRequested ? "cancelled"
            : failure is null ? "released" : "failed";
        span?.SetTag(PipelineTelemetry.Tags.Outcome, outcome);
        if (failure is not null) span?.SetStatus(ActivityStatusCode.Error, failure.Message);
        PipelineTelemetry.JobDuration.Record(elapsed.Elapsed.TotalSeconds, new KeyValuePair<string, object?>(PipelineTelemetry.Tags.JobKind, kind),
            new KeyValuePair<string, object?>(PipelineTelemetry.Tags.Outcome, outcome));

        if (attempt.IsSuperseded)
        {
            // The job belongs to another attempt now: no status, no log, no outputs from this one.
            _log.WriteLine($"{attempt.SupersededReason}; this worker stops it and writes nothing more");
            _log.End();
            await QuietlyAsync(() => delivery.CompleteAsync(), message.JobId, "complete");
            return;
        }

        if (completed)
            await FinishAsync(attempt, (s, now) => JobTransitions.Succeeded(s, attempt.Outputs, now), () => delivery.CompleteAsync(), "succeeded");
        else if (failure is null && cancelRequested.IsCancellationRequested)
            await FinishAsync(attempt, JobTransitions.Cancelled, () => delivery.CompleteAsync(), "cancelled on request");
        else if (failure is null)
            // Stopped (SIGTERM) with its checkpoint stored: the same attempt goes to the next worker.
            await FinishAsync(attempt, JobTransitions.Released, () => delivery.ReleaseAsync(), "released for another worker");
        else
        {
            string error = $"{failure.GetType().Name}: {failure.Message}";
            if (IsInvalidJob(failure))
                await FinishAsync(attempt, (s, now) => JobTransitions.Poisoned(s, $"invalid job: {error}", now), () => delivery.PoisonAsync($"invalid job: {error}"),
                    $"failed (not retried: the job itself is invalid): {error}");
            else if (delivery.DeliveryCount >= jobs.MaxDeliveryCount)
            {
                string reason = $"failed on each of {delivery.DeliveryCount} deliveries; last error: {error}";
                await FinishAsync(attempt, (s, now) => JobTransitions.Poisoned(s, reason, now), () => delivery.PoisonAsync(reason), $"{reason} → poison queue, job failed");
            }
            else
                await FinishAsync(attempt, (s, now) => JobTransitions.Retrying(s, error, now), () => delivery.ReleaseAsync(), $"failed, to be retried: {error}");
        }
    }

    /// <summary>Writes the attempt's last status, then settles its message; a claim superseded at the last moment writes nothing.</summary>
    private async Task FinishAsync(JobAttempt attempt, Func<JobStatus, DateTime, JobStatus> transition, Func<Task> settle, string outcome)
    {
        if (!await attempt.FinishAsync(transition))
        {
            _log.WriteLine($"{attempt.SupersededReason}; its outcome ({outcome}) is not recorded");
            _log.End();
            await QuietlyAsync(settle, attempt.JobId, "settle the message");
            return;
        }
        _log.WriteLine($"{attempt.JobId}: {outcome}");
        await QuietlyAsync(settle, attempt.JobId, "settle the message");
        await NotifyAsync(attempt.Message, attempt.Status);
        string text = _log.End();
        try
        {
            await store.AppendLogAsync(attempt.JobId, text);
        }
        catch (Exception e) when (e is RequestFailedException or IOException or InvalidDataException)
        {
            _log.WriteLine($"{attempt.JobId}: could not store log.txt: {e.Message}");
        }
    }

    /// <summary>
    /// Every heartbeat interval: confirm the claim with a conditional status write (a refusal
    /// supersedes the attempt, which cancels its runner), keep the message hidden, and turn a
    /// cancel request into cancellation of the runner.
    /// </summary>
    private async Task HeartbeatAsync(IJobDelivery delivery, JobAttempt attempt, CancellationTokenSource cancelRequested, CancellationToken stop)
    {
        var renewEvery = TimeSpan.FromTicks(jobs.VisibilityTimeout.Ticks / 3);
        var lastRenew = Stopwatch.StartNew();
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(options.Heartbeat, _clock, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            try
            {
                await attempt.HeartbeatAsync();
                if (!cancelRequested.IsCancellationRequested && await store.IsCancelRequestedAsync(attempt.JobId))
                {
                    _log.WriteLine($"{attempt.JobId}: cancel requested");
                    cancelRequested.Cancel();
                }
                if (lastRenew.Elapsed >= renewEvery)
                {
                    await QuietlyAsync(() => delivery.RenewAsync(), attempt.JobId, "renew the message lease");
                    lastRenew.Restart();
                }
            }
            catch (JobSupersededException)
            {
                return;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                _log.WriteLine($"{attempt.JobId}: heartbeat failed: {e.Message}");
            }
        }
    }

    /// <summary>Errors that another delivery cannot fix: the job's inputs or settings are wrong.</summary>
    public static bool IsInvalidJob(Exception e) =>
        e is ArgumentException or InvalidDataException or PinnedBlobChangedException or JobProtocolException or Imaging.ScanFormatException
            or Imaging.Geometry.GeometryLimitException;

    /// <summary>
    /// Queue operations after the job's status is settled: the status is the record, the message only
    /// its trigger, so a lost lease (a frozen worker, a message already removed) is logged, not fatal.
    /// </summary>
    /// <summary>Tells the run watching the job that its status changed; a notice that cannot be sent only delays the run until its next poll.</summary>
    private Task NotifyAsync(JobMessage message, JobStatus status) =>
        notices is null ? Task.CompletedTask
        : QuietlyAsync(() => notices.SendAsync(new JobNotice(message.OrchestrationId, message.JobId, status.Attempt, status.State)), message.JobId, "send its notice");

    private async Task QuietlyAsync(Func<Task> operation, string jobId, string what)
    {
        try
        {
            await operation();
        }
        catch (Exception e) when (e is RequestFailedException or Azure.Messaging.ServiceBus.ServiceBusException)
        {
            _log.WriteLine($"{jobId}: could not {what}: {e.Message}");
        }
    }

    private static string Shorten(string s) => s.Length > 80 ? s[..80] + "…" : s;
}
