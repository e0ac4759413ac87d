using GuidedNet.Pipeline.Contracts;
using GuidedNet.Pipeline.Storage;
using GuidedNet.Pipeline.Transport;
using Microsoft.DurableTask;

namespace GuidedNet.Pipeline.Activities;

/// <summary>
/// Sends a job to the GPU workers: job.json, then a queued status.json for this attempt, then the
/// message. Safe to retry: a worker runs each attempt once (it checks status.json before starting).
/// </summary>
public sealed class DispatchJobActivity(PipelineStorage storage, IJobQueue queue) : TaskActivity<JobMessage, JobStatus>
{
    public override async Task<JobStatus> RunAsync(TaskActivityContext context, JobMessage message)
    {
        var current = await storage.ReadJsonAsync<JobStatus>(BlobLayout.JobStatus(message.JobId));
        if (current is not null && (current.Attempt > message.Attempt || current is { IsTerminal: true, State: JobState.Succeeded }))
            return current; // a later attempt already exists, or the job is done: nothing to send
        await storage.WriteJsonAsync(BlobLayout.JobFile(message.JobId), message);
        var status = new JobStatus
        {
            JobId = message.JobId,
            Kind = message.Kind,
            State = JobState.Queued,
            Attempt = message.Attempt,
            QueuedUtc = DateTime.UtcNow,
            Phase = "queued",
            // A re-dispatched training job resumes from the checkpoint the dead worker left.
            LastCheckpoint = current?.LastCheckpoint,
            Error = current?.Error,
        };
        await storage.WriteJsonAsync(BlobLayout.JobStatus(message.JobId), status);
        await queue.SendAsync(message);
        return status;
    }
}

/// <summary>Reads jobs/&lt;id&gt;/status.json (null when the job has never been dispatched).</summary>
public sealed class ReadJobStatusActivity(PipelineStorage storage) : TaskActivity<string, JobStatus?>
{
    public override Task<JobStatus?> RunAsync(TaskActivityContext context, string jobId) =>
        storage.ReadJsonAsync<JobStatus>(BlobLayout.JobStatus(jobId));
}

public sealed record FailJobInput(string JobId, string Reason);

/// <summary>Marks a job failed (a dead worker after the last attempt) unless it already finished.</summary>
public sealed class FailJobActivity(PipelineStorage storage) : TaskActivity<FailJobInput, JobStatus?>
{
    public override async Task<JobStatus?> RunAsync(TaskActivityContext context, FailJobInput input)
    {
        var status = await storage.ReadJsonAsync<JobStatus>(BlobLayout.JobStatus(input.JobId));
        if (status is null || status.IsTerminal) return status;
        var failed = status with { State = JobState.Failed, Phase = "failed", Error = input.Reason, FinishedUtc = DateTime.UtcNow };
        await storage.WriteJsonAsync(BlobLayout.JobStatus(input.JobId), failed);
        return failed;
    }
}
