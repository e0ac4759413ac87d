using GuidedNet.Pipeline.Activities;
using GuidedNet.Pipeline.Jobs.Transport;
using GuidedNet.Pipeline.Storage;
using Microsoft.DurableTask;

namespace GuidedNet.Pipeline.Jobs;

/// <summary>
/// The job's status as the monitor read it, with the ETag its next decision is conditional on.
/// Progress (losses, validation Dice, timings, outputs) is left out: the monitor's rules do not
/// read it, orchestration history stays small, and a diverged loss (NaN) cannot break the
/// orchestration's serialisation — the API reads progress from status.json itself.
/// </summary>
public sealed record JobStatusSnapshot(JobStatus? Status, string? ETag)
{
    public static JobStatusSnapshot Of(Versioned<JobStatus>? v) =>
        new(v?.Value is { } s ? s with { Losses = null, ValidationDice = null, Timings = new(), Outputs = Array.Empty<JobOutput>() } : null, v?.ETag);
}

/// <param name="ExpectedETag">the status version the monitor decided on; the dispatch is refused if status.json changed since (null: the first dispatch)</param>
public sealed record DispatchJobInput(JobMessage Message, string? ExpectedETag = null);

/// <param name="Recorded">whether the message's attempt is the one status.json now holds (false: refused, the status shows why)</param>
public sealed record DispatchResult(JobStatusSnapshot Current, bool Recorded);

public sealed record FailJobInput(string JobId, string Reason, string? ExpectedETag);

/// <summary>
/// Sends an attempt of a job to the GPU workers: status.json records the attempt (create-only for
/// the first, conditional on the monitor's ETag for the next), then the message goes out. Safe to
/// retry: an attempt already recorded is only re-sent while still queued (a duplicate delivery is
/// dropped by the ownership rule), and a job with a cancel request is cancelled, never sent.
/// </summary>
public sealed class DispatchJobActivity(JobStore store, IJobQueue queue, TimeProvider clock) : TaskActivity<DispatchJobInput, DispatchResult>
{
    public override async Task<DispatchResult> RunAsync(TaskActivityContext context, DispatchJobInput input)
    {
        var message = input.Message;
        var current = await store.ReadAsync(message.JobId);
        if (current is not null && JobOwnership.IsOver(current.Value, message.Attempt)) return Refused(current);
        var now = clock.GetUtcNow().UtcDateTime;

        if (await store.IsCancelRequestedAsync(message.JobId))
        {
            // Cancelled before (or while) this attempt was sent: record it, send nothing.
            var cancelled = JobTransitions.Cancelled(current?.Value ?? JobTransitions.Queued(message, null, now), now);
            return Refused(await store.TryWriteAsync(cancelled, current?.ETag) ?? await store.ReadAsync(message.JobId));
        }

        if (current is not null && current.Value.Attempt == message.Attempt)
        {
            // Recorded by an earlier try of this activity, whose message may not have gone out.
            if (current.Value.State == JobState.Queued) await queue.SendAsync(message);
            return new DispatchResult(JobStatusSnapshot.Of(current), true);
        }
        if (input.ExpectedETag is not null && current?.ETag != input.ExpectedETag) return Refused(current);

        await store.WriteMessageAsync(message);
        var queued = await store.TryWriteAsync(JobTransitions.Queued(message, current?.Value, now), current?.ETag);
        if (queued is null) return Refused(await store.ReadAsync(message.JobId));
        await queue.SendAsync(message);
        return new DispatchResult(JobStatusSnapshot.Of(queued), true);
    }

    private static DispatchResult Refused(Versioned<JobStatus>? current) => new(JobStatusSnapshot.Of(current), false);
}

/// <summary>Reads jobs/&lt;id&gt;/status.json with its ETag (an empty snapshot when the job has never been dispatched).</summary>
public sealed class ReadJobStatusActivity(JobStore store) : TaskActivity<string, JobStatusSnapshot>
{
    public override async Task<JobStatusSnapshot> RunAsync(TaskActivityContext context, string jobId) =>
        JobStatusSnapshot.Of(await store.ReadAsync(jobId));
}

/// <summary>
/// Fails a job whose worker died on its last attempt, conditional on the status the monitor
/// decided on: a worker that came back meanwhile keeps its job.
/// </summary>
public sealed class FailJobActivity(JobStore store, TimeProvider clock) : TaskActivity<FailJobInput, JobStatusSnapshot>
{
    public override async Task<JobStatusSnapshot> RunAsync(TaskActivityContext context, FailJobInput input)
    {
        var current = await store.ReadAsync(input.JobId);
        if (current is null || current.Value.IsTerminal || current.ETag != input.ExpectedETag) return JobStatusSnapshot.Of(current);
        var failed = await store.TryWriteAsync(JobTransitions.Failed(current.Value, input.Reason, clock.GetUtcNow().UtcDateTime), current.ETag);
        return JobStatusSnapshot.Of(failed ?? await store.ReadAsync(input.JobId));
    }
}

/// <summary>
/// Copies the outputs of the job's succeeded attempt from its staging folder to their final names,
/// create-only and inside the storage service. Only the attempt that wrote "succeeded" can be
/// committed, so a superseded worker's files never reach the final names; a retry after a partial
/// commit finds the copies already there and goes on. Returns the final paths.
/// </summary>
public sealed class CommitJobOutputsActivity(JobStore store) : TaskActivity<string, string[]>
{
    public override async Task<string[]> RunAsync(TaskActivityContext context, string jobId)
    {
        var status = (await store.ReadAsync(jobId))?.Value ?? throw new InvalidOperationException($"{JobStore.StatusPath(jobId)}: missing");
        if (status.State != JobState.Succeeded)
            throw new JobProtocolException($"{jobId}: outputs are committed only after the job succeeded, not while {status.State.ToString().ToLowerInvariant()}");
        foreach (var output in status.Outputs)
        {
            var staged = await store.Storage.GetAsync(output.Staged) ?? throw new InvalidDataException($"{output.Staged}: the staged output is missing");
            if (staged.Md5 != output.Md5)
                throw new InvalidDataException($"{output.Staged}: MD5 {staged.Md5}, but the job recorded {output.Md5}");
            if (!await store.Storage.TryCopyCreateOnlyAsync(staged.Pin(), output.Final))
                throw new InvalidDataException($"{output.Final} already holds other bytes than {output.Staged}; results are never overwritten");
        }
        return status.Outputs.Select(o => o.Final).ToArray();
    }
}
