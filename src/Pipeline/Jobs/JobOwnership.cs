namespace GuidedNet.Pipeline.Jobs;

public enum DeliveryAction
{
    /// <summary>Claim the attempt (conditionally) and run it.</summary>
    Run,

    /// <summary>Remove the message without touching the job: its attempt is over or held by another worker.</summary>
    Drop,

    /// <summary>A cancel was requested before any worker took the job: mark it cancelled, never run it.</summary>
    Cancel,

    /// <summary>The message was delivered more often than allowed: poison it and fail the job.</summary>
    Poison,
}

public sealed record DeliveryDecision(DeliveryAction Action, string Reason);

/// <summary>
/// The one ownership rule of the job protocol. The attempt number is the fencing token: the
/// monitor supersedes an attempt by queuing the next one, and a worker holds an attempt through
/// the owner token it wrote when it claimed it. Dispatch, the worker's claim, its heartbeats and
/// its last write all decide with these functions, so the rule exists once.
/// </summary>
public static class JobOwnership
{
    /// <summary>An attempt is over once the job has ended or a later attempt was dispatched: nothing of it may run or write.</summary>
    public static bool IsOver(JobStatus status, int attempt) => status.IsTerminal || status.Attempt > attempt;

    /// <summary>Whether the claim (<paramref name="attempt"/>, <paramref name="owner"/>) still holds the job.</summary>
    public static bool Holds(JobStatus status, int attempt, string owner) =>
        !IsOver(status, attempt) && status.Attempt == attempt && status.State == JobState.Running && status.Owner == owner;

    /// <summary>Why the claim no longer holds the job, in words for the worker's log.</summary>
    public static string WhyNotHeld(JobStatus? status, int attempt) => status switch
    {
        null => "status.json is gone",
        { IsTerminal: true } => $"the job has ended ({status.State.ToString().ToLowerInvariant()}, {status.Phase})",
        _ when status.Attempt > attempt => $"attempt {attempt} was superseded by attempt {status.Attempt}",
        _ => $"attempt {attempt} is now {status.State.ToString().ToLowerInvariant()} ({status.Phase}) under {status.Owner ?? "no owner"}",
    };

    /// <summary>What a worker does with a delivered message, given the job's status.json and cancel request.</summary>
    public static DeliveryDecision OnDelivery(JobStatus? status, JobMessage message, bool cancelRequested, int deliveryCount, int maxDeliveries)
    {
        // Dispatch records the attempt before it sends the message, so a message without its
        // status was not sent by the pipeline as it stands (files removed): the monitor resends.
        if (status is null) return new(DeliveryAction.Drop, "no status.json: the job is not dispatched");
        if (IsOver(status, message.Attempt)) return new(DeliveryAction.Drop, WhyNotHeld(status, message.Attempt));
        if (status.Attempt < message.Attempt)
            return new(DeliveryAction.Drop, $"attempt {message.Attempt} was never recorded (status.json holds attempt {status.Attempt})");
        // A duplicate delivery (a message lease ran out while its worker lives, or a dispatch sent
        // twice): the running claim keeps the job; if its worker is dead the monitor re-dispatches.
        if (status.State == JobState.Running) return new(DeliveryAction.Drop, $"attempt {status.Attempt} is running on {status.Worker}");
        if (cancelRequested) return new(DeliveryAction.Cancel, "cancelled before a worker took it");
        if (deliveryCount > maxDeliveries)
            return new(DeliveryAction.Poison, $"delivered {deliveryCount} times (at most {maxDeliveries}); last error: {status.Error ?? "none recorded"}");
        return new(DeliveryAction.Run, $"attempt {message.Attempt} is queued");
    }
}
