using GuidedNet.Pipeline.Options;

namespace GuidedNet.Pipeline.Orchestrations;

/// <summary>
/// Configuration an orchestration needs, captured into its input when it starts: orchestrator
/// code may not read configuration (a replay must see the values the first run saw).
/// </summary>
public sealed record MonitorSettings(double PollSeconds, double HeartbeatTimeoutSeconds, int MaxAttempts)
{
    public static MonitorSettings From(JobOptions jobs) => new(jobs.PollInterval.TotalSeconds, jobs.HeartbeatTimeout.TotalSeconds, jobs.MaxAttempts);
}

/// <summary>What <c>GET /api/runs/&lt;id&gt;</c> shows of an orchestration between steps (its custom status).</summary>
public sealed record RunProgress(string Phase, string? JobId = null, int? CasesTotal = null, int? CasesDone = null, int? Quarantined = null, int? Attempt = null);
