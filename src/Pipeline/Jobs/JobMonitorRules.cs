using GuidedNet.Pipeline.Options;

namespace GuidedNet.Pipeline.Jobs;

/// <summary>
/// Configuration an orchestration's monitor needs, captured into its input when it starts:
/// orchestrator code may not read configuration (a replay must see the values the first run saw).
/// </summary>
public sealed record MonitorSettings(double PollSeconds, double HeartbeatTimeoutSeconds, int MaxAttempts)
{
    public static MonitorSettings From(JobOptions jobs) => new(jobs.PollInterval.TotalSeconds, jobs.HeartbeatTimeout.TotalSeconds, jobs.MaxAttempts);
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
