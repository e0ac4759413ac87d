using GuidedNet.Pipeline.Activities;
using GuidedNet.Pipeline.Contracts;
using Microsoft.DurableTask;

namespace GuidedNet.Pipeline.Orchestrations;

public sealed record MonitorJobInput(JobMessage Message, MonitorSettings Settings, bool Dispatch = true);

/// <summary>
/// Dispatches a GPU job and watches it: a durable timer, then its status.json, until the job ends.
/// A running job whose heartbeat is older than the timeout has a dead worker: it is re-dispatched
/// (the next attempt; training resumes from its checkpoint) until the attempts run out. History is
/// kept short with continue-as-new every <see cref="PollsPerGeneration"/> polls.
/// </summary>
public sealed class MonitorJobOrchestrator : TaskOrchestrator<MonitorJobInput, JobStatus>
{
    public const int PollsPerGeneration = 60;

    public static readonly TaskOptions ActivityRetry = TaskOptions.FromRetryPolicy(
        new RetryPolicy(maxNumberOfAttempts: 5, firstRetryInterval: TimeSpan.FromSeconds(1), backoffCoefficient: 2, maxRetryInterval: TimeSpan.FromSeconds(30)));

    public override async Task<JobStatus> RunAsync(TaskOrchestrationContext context, MonitorJobInput input)
    {
        var message = input.Message;
        var settings = input.Settings;
        if (input.Dispatch) await context.CallActivityAsync<JobStatus>(TaskNames.DispatchJob, message, ActivityRetry);

        for (int poll = 0; poll < PollsPerGeneration; poll++)
        {
            await context.CreateTimer(context.CurrentUtcDateTime.AddSeconds(settings.PollSeconds), CancellationToken.None);
            var status = await context.CallActivityAsync<JobStatus?>(TaskNames.ReadJobStatus, message.JobId, ActivityRetry);
            if (status is null)
            {
                // The job's files are gone (deleted by hand): send it again rather than wait forever.
                await context.CallActivityAsync<JobStatus>(TaskNames.DispatchJob, message, ActivityRetry);
                continue;
            }
            if (status.IsTerminal) return status;
            if (status.Attempt > message.Attempt) message = message with { Attempt = status.Attempt };

            bool dead = status.State == JobState.Running
                        && status.HeartbeatUtc is { } beat
                        && (context.CurrentUtcDateTime - beat).TotalSeconds > settings.HeartbeatTimeoutSeconds;
            if (!dead) continue;
            string reason = $"worker {status.Worker} stopped sending heartbeats (last {status.HeartbeatUtc:O}) during attempt {message.Attempt}";
            if (message.Attempt >= settings.MaxAttempts)
                return await context.CallActivityAsync<JobStatus?>(TaskNames.FailJob, new FailJobInput(message.JobId, reason + $"; {settings.MaxAttempts} attempts used"), ActivityRetry)
                       ?? status with { State = JobState.Failed, Error = reason };
            message = message.NextAttempt();
            await context.CallActivityAsync<JobStatus>(TaskNames.DispatchJob, message, ActivityRetry);
        }
        context.ContinueAsNew(input with { Message = message, Dispatch = false });
        return null!; // not observed: the orchestration continues as new
    }
}
