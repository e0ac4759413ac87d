namespace GuidedNet.Pipeline.Jobs;

/// <summary>Everything that can happen to a job; each is one function of <see cref="JobTransitions"/>.</summary>
public enum JobEvent { Queued, Started, Heartbeat, Released, Retrying, Poisoned, Failed, Succeeded, Cancelled }

/// <summary>A transition that the job's current status does not allow (a protocol error, never retried).</summary>
public sealed class JobProtocolException(string message) : InvalidOperationException(message);

/// <summary>
/// The job life cycle (docs/pipeline.md draws it): the only way a <see cref="JobStatus"/> changes.
/// Each function checks that its event is allowed from the current status and returns the next
/// one; writing it (conditionally) is the caller's part.
/// </summary>
/// <remarks>
/// queued → started → (heartbeat)* → succeeded | released → queued | retrying → queued | poisoned | failed | cancelled;
/// queued → cancelled | poisoned | failed; a newer attempt is queued over any status that has not ended.
/// </remarks>
public static class JobTransitions
{
    /// <summary>Whether <paramref name="e"/> may happen to a job whose status is <paramref name="from"/> (null: not dispatched yet).</summary>
    public static bool IsAllowed(JobEvent e, JobStatus? from) => e switch
    {
        JobEvent.Queued => from is null || !from.IsTerminal,
        JobEvent.Started => from is { State: JobState.Queued },
        JobEvent.Heartbeat or JobEvent.Released or JobEvent.Retrying or JobEvent.Succeeded => from is { State: JobState.Running },
        JobEvent.Poisoned or JobEvent.Failed or JobEvent.Cancelled => from is { IsTerminal: false },
        _ => false,
    };

    /// <summary>
    /// The orchestrator dispatches <paramref name="message"/>'s attempt: the first one, or the next
    /// one over an attempt that has not ended. The last checkpoint carries over, so the next attempt
    /// resumes where the previous stopped, and so does the previous error, which says why it ended;
    /// where the new attempt resumed from is its own report, set once it has loaded the checkpoint.
    /// </summary>
    public static JobStatus Queued(JobMessage message, JobStatus? previous, DateTime now)
    {
        Require(JobEvent.Queued, previous, message.JobId);
        if (previous is not null && previous.Attempt >= message.Attempt)
            throw new JobProtocolException($"{message.JobId}: attempt {message.Attempt} cannot be queued over attempt {previous.Attempt}");
        return new JobStatus
        {
            JobId = message.JobId,
            Kind = message.Kind,
            State = JobState.Queued,
            Attempt = message.Attempt,
            QueuedUtc = now,
            Phase = JobPhases.Queued,
            LastCheckpoint = previous?.LastCheckpoint,
            Error = previous?.Error,
        };
    }

    /// <summary>A worker claims the queued attempt; <paramref name="owner"/> identifies this claim in every later write.</summary>
    public static JobStatus Started(JobStatus status, string worker, string owner, DateTime now) =>
        Check(JobEvent.Started, status) with
        {
            State = JobState.Running,
            Owner = owner,
            Worker = worker,
            StartedUtc = now,
            HeartbeatUtc = now,
            Phase = JobPhases.Starting,
            Timings = new Dictionary<string, double> { ["queueWait"] = Math.Max(0, (now - status.QueuedUtc).TotalSeconds) },
        };

    public static JobStatus Heartbeat(JobStatus status, DateTime now) => Check(JobEvent.Heartbeat, status) with { HeartbeatUtc = now };

    /// <summary>The worker stops (SIGTERM) after saving its checkpoint: the same attempt goes back to the queue.</summary>
    public static JobStatus Released(JobStatus status, DateTime now) =>
        Check(JobEvent.Released, status) with { State = JobState.Queued, Phase = JobPhases.Released, Owner = null, QueuedUtc = now, HeartbeatUtc = now };

    /// <summary>The attempt failed in a way another delivery may not (storage, device): the message goes back.</summary>
    public static JobStatus Retrying(JobStatus status, string error, DateTime now) =>
        Check(JobEvent.Retrying, status) with { State = JobState.Queued, Phase = JobPhases.Retrying, Owner = null, Error = error, QueuedUtc = now, HeartbeatUtc = now };

    /// <summary>The message is given up (delivered too often, or an invalid job): it goes to the poison queue and the job fails.</summary>
    public static JobStatus Poisoned(JobStatus status, string reason, DateTime now) =>
        Check(JobEvent.Poisoned, status) with { State = JobState.Failed, Phase = JobPhases.Poisoned, Owner = null, Error = reason, FinishedUtc = now };

    /// <summary>The monitor gives up on the job (its worker died on every attempt).</summary>
    public static JobStatus Failed(JobStatus status, string reason, DateTime now) =>
        Check(JobEvent.Failed, status) with { State = JobState.Failed, Phase = JobPhases.Failed, Owner = null, Error = reason, FinishedUtc = now };

    public static JobStatus Succeeded(JobStatus status, IReadOnlyList<JobOutput> outputs, DateTime now) =>
        Check(JobEvent.Succeeded, status) with
        {
            State = JobState.Succeeded, Phase = JobPhases.Done, Owner = null, Outputs = outputs.ToArray(), Error = null, FinishedUtc = now, HeartbeatUtc = now,
        };

    public static JobStatus Cancelled(JobStatus status, DateTime now) =>
        Check(JobEvent.Cancelled, status) with { State = JobState.Cancelled, Phase = JobPhases.Cancelled, Owner = null, FinishedUtc = now };

    private static JobStatus Check(JobEvent e, JobStatus? status)
    {
        Require(e, status, status?.JobId ?? "a job");
        return status!;
    }

    private static void Require(JobEvent e, JobStatus? from, string jobId)
    {
        if (!IsAllowed(e, from))
            throw new JobProtocolException(
                $"{jobId}: '{e.ToString().ToLowerInvariant()}' is not allowed from {(from is null ? "no status" : $"{from.State.ToString().ToLowerInvariant()} ({from.Phase}, attempt {from.Attempt})")}");
    }
}
