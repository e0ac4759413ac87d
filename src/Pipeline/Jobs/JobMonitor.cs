using GuidedNet.Pipeline.Activities;
using Microsoft.DurableTask;

namespace GuidedNet.Pipeline.Jobs;

/// <summary>
/// The orchestrator's end of the job protocol: dispatch a job, then read its status whenever a
/// worker's notice (<see cref="JobNotices"/>) or a durable timer (<see cref="MonitorSettings.PollDelaySeconds"/>)
/// wakes the run, and carry out <see cref="JobMonitorRules.Decide"/> with the orchestration's clock. Every
/// re-dispatch and every give-up is conditional on the status version the decision was made on,
/// so a worker that sends a heartbeat in between keeps its job. After
/// <see cref="PollsPerGeneration"/> polls it hands back to the orchestrator, which continues as
/// new so its history stays short.
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
        context.CallActivityAsync<DispatchResult>(TaskNames.DispatchJob, new DispatchJobInput(message), ActivityRetry);

    /// <summary>
    /// Polls the job; returns its final status, or null with the message of the current attempt
    /// when this generation's polls are spent (the caller then continues as new).
    /// </summary>
    public static async Task<(JobStatus? Final, JobMessage Message)> WatchAsync(TaskOrchestrationContext context, JobMessage message, MonitorSettings settings)
    {
        int pollsWhileRunning = -1;
        for (int poll = 0; poll < PollsPerGeneration; poll++)
        {
            await JobNotices.WaitAsync(context, TimeSpan.FromSeconds(settings.PollDelaySeconds(poll, pollsWhileRunning)), settings.Notified);
            var snapshot = await context.CallActivityAsync<JobStatusSnapshot>(TaskNames.ReadJobStatus, message.JobId, ActivityRetry);
            pollsWhileRunning = snapshot.Status is { State: JobState.Running } running && running.Attempt == message.Attempt ? pollsWhileRunning + 1 : -1;
            var decision = JobMonitorRules.Decide(snapshot.Status, message, context.CurrentUtcDateTime, settings);
            switch (decision.Action)
            {
                case MonitorAction.Finish:
                    return (snapshot.Status, decision.Message);
                case MonitorAction.Follow:
                    message = decision.Message;
                    break;
                case MonitorAction.Resend:
                case MonitorAction.Redispatch:
                    var sent = await context.CallActivityAsync<DispatchResult>(TaskNames.DispatchJob,
                        new DispatchJobInput(decision.Message, snapshot.ETag), ActivityRetry);
                    if (sent.Recorded) message = decision.Message;
                    break;
                case MonitorAction.GiveUp:
                    var failed = await context.CallActivityAsync<JobStatusSnapshot>(TaskNames.FailJob,
                        new FailJobInput(message.JobId, decision.Reason!, snapshot.ETag), ActivityRetry);
                    if (failed.Status is { IsTerminal: true } final) return (final, message);
                    break;
            }
        }
        return (null, message);
    }
}
