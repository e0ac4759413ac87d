using GuidedNet.Pipeline.Contracts;
using GuidedNet.Pipeline.Storage;

namespace GuidedNet.Pipeline.Jobs;

public enum JobKind { Train, Predict }

/// <summary>
/// What a GPU job worker is asked to do. Carries blob paths and pins only, never voxels, so the
/// message and the orchestration history stay small. <see cref="Attempt"/> grows each time the
/// monitor re-dispatches the job; it is the fencing token of <see cref="JobOwnership"/>.
/// </summary>
public sealed record JobMessage
{
    public required string JobId { get; init; }
    public required JobKind Kind { get; init; }
    public int Attempt { get; init; } = 1;
    public required string OrchestrationId { get; init; }
    public TrainJob? Train { get; init; }
    public PredictJob? Predict { get; init; }

    public JobMessage NextAttempt() => this with { Attempt = Attempt + 1 };
}

/// <summary>Train on the cases a manifest pins; outputs go to <see cref="ModelPrefix"/> (models/&lt;name&gt;/&lt;version&gt;/).</summary>
public sealed record TrainJob(string Dataset, string Version, string ManifestPath, string ModelPrefix, TrainRequest Settings);

/// <summary>
/// Segment the pinned bytes of one dropped scan with one model version; outputs go to
/// <see cref="ResultPrefix"/> (results/&lt;project&gt;/&lt;case&gt;/&lt;run&gt;/), a folder only this run writes.
/// </summary>
public sealed record PredictJob(string Project, string Case, string Run, BlobPin Scan, BlobPin? Label, string ModelPath, string ModelVersion,
    string ResultPrefix);

/// <summary>A run has at most one GPU job; its id follows from the run's id, so anyone holding the run id can address the job.</summary>
public static class JobIds
{
    public static string For(string runId, JobKind kind) => $"{runId}~{kind.ToString().ToLowerInvariant()}";
}
