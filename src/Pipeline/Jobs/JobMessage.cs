namespace GuidedNet.Pipeline.Contracts;

public enum JobKind { Train, Predict }

public enum JobState { Queued, Running, Succeeded, Failed, Cancelled }

/// <summary>
/// What a GPU job worker is asked to do. Carries blob paths only, never voxels, so the message
/// and the orchestration history stay small. <see cref="Attempt"/> grows each time the monitor
/// re-dispatches the job; a worker ignores messages older than the job's current attempt.
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

/// <summary>Train on the cases a manifest lists; outputs go to <see cref="ModelPrefix"/> (models/&lt;name&gt;/&lt;version&gt;/).</summary>
public sealed record TrainJob(string Dataset, string Version, string ManifestPath, string ModelPrefix, TrainRequest Settings);

/// <summary>Segment one scan with one model version; outputs go to <see cref="ResultPrefix"/> (results/&lt;project&gt;/&lt;case&gt;/).</summary>
public sealed record PredictJob(string Project, string Case, string ScanPath, string? LabelPath, string ModelPath, string ModelVersion, string ResultPrefix);

/// <summary>
/// <c>jobs/&lt;id&gt;/status.json</c>: the worker's heartbeat and progress, the monitor's view of the job.
/// </summary>
public sealed record JobStatus
{
    public required string JobId { get; init; }
    public required JobKind Kind { get; init; }
    public JobState State { get; init; }
    public int Attempt { get; init; } = 1;
    public string? Worker { get; init; }
    public DateTime QueuedUtc { get; init; }
    public DateTime? StartedUtc { get; init; }
    public DateTime? HeartbeatUtc { get; init; }
    public DateTime? FinishedUtc { get; init; }

    /// <summary>queued, downloading, preprocessing, training, predicting, uploading, done.</summary>
    public string Phase { get; init; } = "queued";

    public int? Iteration { get; init; }
    public int? TotalIterations { get; init; }
    public Dictionary<string, double>? Losses { get; init; }
    public double? ValidationDice { get; init; }
    public int? ResumedFromIteration { get; init; }
    public string? LastCheckpoint { get; init; }
    public string[] Outputs { get; init; } = Array.Empty<string>();
    public string? Error { get; init; }

    /// <summary>Seconds spent in each phase of the current attempt (queue wait, download, model, upload...).</summary>
    public Dictionary<string, double> Timings { get; init; } = new();

    public bool IsTerminal => State is JobState.Succeeded or JobState.Failed or JobState.Cancelled;
}
