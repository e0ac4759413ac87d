namespace GuidedNet.Pipeline.Orchestrations;

/// <summary>What <c>GET /api/runs/&lt;id&gt;</c> shows of an orchestration between steps (its custom status).</summary>
public sealed record RunProgress(string Phase, string? JobId = null, int? CasesTotal = null, int? CasesDone = null, int? Quarantined = null, int? Attempt = null);
