using GuidedNet.Pipeline.Options;

namespace GuidedNet.Pipeline.Jobs;

/// <summary>
/// Configuration an orchestration's monitor needs, captured into its input when it starts:
/// orchestrator code may not read configuration (a replay must see the values the first run saw).
/// </summary>
public sealed record MonitorSettings(double PollSeconds, double HeartbeatTimeoutSeconds, int MaxAttempts, bool Notified = false)
{
    /// <summary>The first poll of a generation comes this soon, and so does the first after the job is seen running; then twice as late each time.</summary>
    public const double FirstPollSeconds = 0.25;

    public static MonitorSettings From(JobOptions jobs) => new(jobs.PollInterval.TotalSeconds, jobs.HeartbeatTimeout.TotalSeconds, jobs.MaxAttempts, jobs.Notices);

    /// <summary>
    /// How long the monitor waits before poll <paramref name="poll"/> (0-based) of a generation,
    /// <paramref name="pollsWhileRunning"/> polls after it first saw the watched attempt running
    /// (-1: not seen running).
    /// <para>With notices (<see cref="Notified"/>) a change wakes the monitor at once, so the timer
    /// is only the safety net: the poll interval for a generation's first poll and while the job
    /// runs (the heartbeat check), the heartbeat timeout while it waits for a worker (nothing the
    /// monitor must act on happens then, and a notice lost on the way is found that late at worst).</para>
    /// <para>Without notices the first poll comes soon (a job taken and done at once); while the
    /// job runs: 0.25, 0.5, 1, 2, 4 s … then the poll interval, so a scan's job of a second or two
    /// is seen done within a fraction of a second instead of half a poll interval later; while it
    /// waits for a worker: the poll interval, because a batch of a thousand waiting runs polling
    /// fast would swamp the durable backend.</para>
    /// </summary>
    public double PollDelaySeconds(int poll, int pollsWhileRunning) =>
        Notified ? (poll == 0 || pollsWhileRunning >= 0 ? PollSeconds : Math.Max(PollSeconds, HeartbeatTimeoutSeconds))
        : poll == 0 ? Math.Min(PollSeconds, FirstPollSeconds)
        : pollsWhileRunning < 0 ? PollSeconds
        : Math.Min(PollSeconds, FirstPollSeconds * Math.Pow(2, Math.Min(pollsWhileRunning, 30)));
}

public enum MonitorAction
{
    /// <summary>Nothing to do until the next poll.</summary>
    Wait,

    /// <summary>The job has ended: return its status.</summary>
    Finish,

    /// <summary>A later attempt than the one watched is recorded: watch that one.</summary>
    Follow,

    /// <summary>The watched attempt is not recorded (files removed): dispatch it again.</summary>
    Resend,

    /// <summary>The worker died: dispatch the next attempt, which supersedes the dead one.</summary>
    Redispatch,

    /// <summary>The worker died on the last attempt: fail the job.</summary>
    GiveUp,
}

/// <summary>What the monitor does next, with the message to watch (or send) and the reason.</summary>
public sealed record MonitorDecision(MonitorAction Action, JobMessage Message, string? Reason = null);

/// <summary>
/// The monitor's rule as a pure function of the job's status, the time and the settings; the
/// orchestrator (<see cref="JobMonitor"/>) only carries it out, with the orchestration's clock.
/// </summary>
public static class JobMonitorRules
{
    public static MonitorDecision Decide(JobStatus? status, JobMessage watched, DateTime now, MonitorSettings settings)
    {
        if (status is null) return new(MonitorAction.Resend, watched, "status.json is missing");
        if (status.IsTerminal) return new(MonitorAction.Finish, watched with { Attempt = Math.Max(watched.Attempt, status.Attempt) });
        if (status.Attempt > watched.Attempt) return new(MonitorAction.Follow, watched with { Attempt = status.Attempt });
        if (status.Attempt < watched.Attempt) return new(MonitorAction.Resend, watched, $"attempt {watched.Attempt} is not recorded (status.json holds attempt {status.Attempt})");
        if (status.State != JobState.Running) return new(MonitorAction.Wait, watched);

        var lastSign = status.HeartbeatUtc ?? status.StartedUtc ?? status.QueuedUtc;
        double silent = (now - lastSign).TotalSeconds;
        if (silent <= settings.HeartbeatTimeoutSeconds) return new(MonitorAction.Wait, watched);
        string reason = $"worker {status.Worker} stopped sending heartbeats (last {lastSign:O}, {silent:F0} s ago) during attempt {status.Attempt}";
        return status.Attempt >= settings.MaxAttempts
            ? new(MonitorAction.GiveUp, watched, $"{reason}; all {settings.MaxAttempts} attempts used")
            : new(MonitorAction.Redispatch, watched.NextAttempt(), reason);
    }
}
