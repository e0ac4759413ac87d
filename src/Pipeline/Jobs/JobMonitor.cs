using GuidedNet.Pipeline.Activities;
using GuidedNet.Pipeline.Contracts;
using Microsoft.DurableTask;

namespace GuidedNet.Pipeline.Orchestrations;

/// <summary>
/// Watches a dispatched GPU job from inside an orchestration: a durable timer, then its status.json,
/// until the job ends. A running job whose heartbeat is older than the timeout has a dead worker:
/// it is re-dispatched (the next attempt; training resumes from its checkpoint) until the attempts
/// run out. After <see cref="PollsPerGeneration"/> polls it hands back to the orchestrator, which
/// continues as new so its history stays short.
/// </summary>
/// <remarks>
/// A helper, not a sub-orchestration: the durabletask gRPC sidecar over the Azure Storage provider
/// (the local host's backend) writes the sub-orchestration-created history row without its event
/// type, after which the parent can no longer be loaded. Continue-as-new works on every backend.
/// </remarks>
public static class JobMonitor
{
    public const int PollsPerGeneration = 50;

    public static readonly TaskOptions ActivityRetry = TaskOptions.FromRetryPolicy(
        new RetryPolicy(maxNumberOfAttempts: 5, firstRetryInterval: TimeSpan.FromSeconds(1), backoffCoefficient: 2, maxRetryInterval: TimeSpan.FromSeconds(30)));

    /// <summary>Sends the first attempt of a job.</summary>
    public static Task DispatchAsync(TaskOrchestrationContext context, JobMessage message) =>
        context.CallActivityAsync<JobStatus>(TaskNames.DispatchJob, message, ActivityRetry);

    /// <summary>
    /// Polls the job; returns its final status, or null with the message of the current attempt
    /// when this generation's polls are spent (the caller then continues as new).
    /// </summary>
    public static async Task<(JobStatus? Final, JobMessage Message)> WatchAsync(TaskOrchestrationContext context, JobMessage message, MonitorSettings settings)
    {
        for (int poll = 0; poll < PollsPerGeneration; poll++)
        {
            await context.CreateTimer(context.CurrentUtcDateTime.AddSeconds(settings.PollSeconds), CancellationToken.None);
            var status = await context.CallActivityAsync<JobStatus?>(TaskNames.ReadJobStatus, message.JobId, ActivityRetry);
            if (status is null)
            {
                // The job's files are gone (deleted by hand): send it again rather than wait forever.
                await DispatchAsync(context, message);
                continue;
            }
            if (status.IsTerminal) return (status, message);
            if (status.Attempt > message.Attempt) message = message with { Attempt = status.Attempt };

            bool dead = status.State == JobState.Running
                        && status.HeartbeatUtc is { } beat
                        && (context.CurrentUtcDateTime - beat).TotalSeconds > settings.HeartbeatTimeoutSeconds;
            if (!dead) continue;
            string reason = $"worker {status.Worker} stopped sending heartbeats (last {status.HeartbeatUtc:O}) during attempt {message.Attempt}";
            if (message.Attempt >= settings.MaxAttempts)
            {
                var failed = await context.CallActivityAsync<JobStatus?>(TaskNames.FailJob,
                    new FailJobInput(message.JobId, $"{reason}; all {settings.MaxAttempts} attempts used"), ActivityRetry);
                return (failed ?? status with { State = JobState.Failed, Error = reason }, message);
            }
            message = message.NextAttempt();
            await DispatchAsync(context, message);
        }
        return (null, message);
    }
}
