using System.Text.Json;
using Azure;
using Azure.Storage.Queues;
using Azure.Storage.Queues.Models;
using GuidedNet.Pipeline.Jobs.Transport;
using GuidedNet.Pipeline.Options;
using GuidedNet.Pipeline.Storage;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;

namespace GuidedNet.Pipeline.Jobs;

/// <summary>A job's status changed (the worker claimed it, finished it, gave it back): the run that owns the job should look.</summary>
public sealed record JobNotice(string OrchestrationId, string JobId, int Attempt, JobState State);

/// <summary>
/// The wake-up protocol between workers and the orchestrations that watch their jobs, all three
/// ends: a worker sends a <see cref="JobNotice"/> to a storage queue after each status write
/// (<see cref="JobNoticeQueue.SendAsync"/>); a relay (the local host's loop, the Functions queue
/// trigger) raises it as the durable event <see cref="EventName"/> on the run
/// (<see cref="RelayAsync"/>); the monitor waits for that event or its timer, whichever comes first
/// (<see cref="WaitAsync"/>).
/// </summary>
/// <remarks>
/// A notice only says "look now": the monitor still reads status.json and decides on what it
/// reads, so a lost, late, duplicated or stale notice costs latency at most — the timer is the
/// safety net and the heartbeat check. Without notices a thousand runs waiting for workers poll
/// the durable backend every poll interval; with them a run wakes when something happened.
/// </remarks>
public static class JobNotices
{
    public const string EventName = "JobStatusChanged";

    public static string Serialize(JobNotice notice) => JsonSerializer.Serialize(notice, PipelineStorage.Json);

    public static JobNotice? TryParse(string body)
    {
        try
        {
            return JsonSerializer.Deserialize<JobNotice>(body, PipelineStorage.Json) is { OrchestrationId.Length: > 0, JobId.Length: > 0 } notice ? notice : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>The orchestrator's end: returns after <paramref name="delay"/>, or as soon as a notice arrives when <paramref name="notified"/>.</summary>
    public static async Task WaitAsync(TaskOrchestrationContext context, TimeSpan delay, bool notified)
    {
        var due = context.CurrentUtcDateTime + delay;
        if (!notified)
        {
            await context.CreateTimer(due, CancellationToken.None);
            return;
        }
        // The loser is cancelled: a timer left pending would hold the orchestration open, and an
        // event wait left pending would take the next notice away from the next wait.
        using var cancel = new CancellationTokenSource();
        var timer = context.CreateTimer(due, cancel.Token);
        var notice = context.WaitForExternalEvent<JobNotice>(EventName, cancel.Token);
        await Task.WhenAny(timer, notice);
        cancel.Cancel();
    }

    /// <summary>
    /// The relay's end: raises the notice on its run. False when the durable backend refused it:
    /// the notice is then dropped — the run, if any, still polls.
    /// </summary>
    public static async Task<bool> RelayAsync(DurableTaskClient client, JobNotice notice, CancellationToken cancellation = default)
    {
        try
        {
            await client.RaiseEventAsync(notice.OrchestrationId, EventName, notice, cancellation);
            return true;
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellation.IsCancellationRequested)
        {
            return false;
        }
    }
}

/// <summary>The storage queue of job notices (Azurite locally, the pipeline's account in Azure): workers send, relays drain.</summary>
public sealed class JobNoticeQueue
{
    private readonly QueueClient _queue;
    private bool _created;

    public JobNoticeQueue(QueueClient queue) => _queue = queue;

    public string Name => _queue.Name;

    /// <summary>The notice queue of <paramref name="jobs"/>, or null when notices are off.</summary>
    public static JobNoticeQueue? Create(StorageOptions storage, JobOptions jobs)
    {
        return jobs.Notices ? new JobNoticeQueue(StorageQueueJobQueue.Client(storage, jobs.EffectiveNoticeQueueName)) : null;
    }

    private async Task EnsureAsync(CancellationToken cancellation)
    {
        if (_created) return;
        try
        {
            await _queue.CreateIfNotExistsAsync(cancellationToken: cancellation);
        }
        catch (RequestFailedException e) when (e.Status == 403)
        {
            // In Azure a worker may only send to the queue, which the deployment created.
        }
        _created = true;
    }

    /// <summary>A short time to live: a notice nobody relayed within minutes is stale, the monitor's poll has seen the change by then.</summary>
    public async Task SendAsync(JobNotice notice, CancellationToken cancellation = default)
    {
        await EnsureAsync(cancellation);
        await _queue.SendMessageAsync(JobNotices.Serialize(notice), timeToLive: TimeSpan.FromMinutes(10), cancellationToken: cancellation);
    }

    /// <summary>
    /// Relays up to <paramref name="max"/> waiting notices and removes them (also those not
    /// understood, which no relay could ever deliver); returns how many messages were taken.
    /// </summary>
    public async Task<int> RelayWaitingAsync(Func<JobNotice, Task> relay, int max = 32, CancellationToken cancellation = default)
    {
        await EnsureAsync(cancellation);
        QueueMessage[] messages = (await _queue.ReceiveMessagesAsync(Math.Clamp(max, 1, 32), TimeSpan.FromSeconds(30), cancellation)).Value;
        await Task.WhenAll(messages.Select(async message =>
        {
            if (JobNotices.TryParse(message.Body.ToString()) is { } notice) await relay(notice);
            await _queue.DeleteMessageAsync(message.MessageId, message.PopReceipt, cancellation);
        }));
        return messages.Length;
    }

    /// <summary>
    /// The relay loop of a host without a queue trigger (the local host; the in-process test
    /// pipeline): relays what waits, rests <paramref name="emptyPause"/> when nothing does or a round
    /// failed (reported to <paramref name="failed"/>), until stopped.
    /// </summary>
    public async Task RelayUntilStoppedAsync(Func<JobNotice, Task> relay, TimeSpan emptyPause, Action<Exception> failed, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                if (await RelayWaitingAsync(relay, cancellation: stop) > 0) continue;
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                failed(e); // and rest before trying again: storage that is down is not hammered
            }
            try
            {
                await Task.Delay(emptyPause, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}
