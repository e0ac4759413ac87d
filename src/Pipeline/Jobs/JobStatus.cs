using System.Text.Json.Serialization;

namespace GuidedNet.Pipeline.Jobs;

public enum JobState { Queued, Running, Succeeded, Failed, Cancelled }

/// <summary>The phase strings of status.json, defined once: the worker, its runners, the monitor and the API read these.</summary>
public static class JobPhases
{
    // Queued
    public const string Queued = "queued";
    public const string Released = "released";
    public const string Retrying = "retrying";

    // Running (the runners move through these)
    public const string Starting = "starting";
    public const string Downloading = "downloading";
    public const string Preprocessing = "preprocessing";
    public const string Training = "training";
    public const string Predicting = "predicting";
    public const string Metrics = "metrics";
    public const string Uploading = "uploading";

    // Ended
    public const string Done = "done";
    public const string Failed = "failed";
    public const string Poisoned = "poisoned";
    public const string Cancelled = "cancelled";
}

/// <summary>
/// A file the job produced: written by its attempt under a name only that attempt owns
/// (<see cref="Staged"/>), copied to its <see cref="Final"/> name by the orchestration once the
/// job has succeeded — so a superseded attempt can never put a file where results are read.
/// </summary>
public sealed record JobOutput(string Staged, string Final, string Md5);

/// <summary>
/// <c>jobs/&lt;id&gt;/status.json</c>: the one record of who owns the job and where it stands. It only
/// changes through <see cref="JobTransitions"/>, and every write of it is conditional on the ETag
/// the writer read (<see cref="JobStore"/>).
/// </summary>
public sealed record JobStatus
{
    public required string JobId { get; init; }
    public required JobKind Kind { get; init; }
    public JobState State { get; init; }
    public int Attempt { get; init; } = 1;

    /// <summary>The claim that holds the running attempt (worker name and a token of its claim); null unless running.</summary>
    public string? Owner { get; init; }

    public string? Worker { get; init; }
    public DateTime QueuedUtc { get; init; }
    public DateTime? StartedUtc { get; init; }
    public DateTime? HeartbeatUtc { get; init; }
    public DateTime? FinishedUtc { get; init; }
    public string Phase { get; init; } = JobPhases.Queued;

    public int? Iteration { get; init; }
    public int? TotalIterations { get; init; }
    public Dictionary<string, double>? Losses { get; init; }
    public double? ValidationDice { get; init; }
    public int? ResumedFromIteration { get; init; }

    /// <summary>The newest checkpoint of the job (a blob under some attempt's folder); the next attempt resumes from it.</summary>
    public string? LastCheckpoint { get; init; }

    public IReadOnlyList<JobOutput> Outputs { get; init; } = Array.Empty<JobOutput>();
    public string? Error { get; init; }

    /// <summary>Seconds spent in each phase of the current attempt (queue wait, download, model, upload...).</summary>
    public Dictionary<string, double> Timings { get; init; } = new();

    [JsonIgnore]
    public bool IsTerminal => State is JobState.Succeeded or JobState.Failed or JobState.Cancelled;
}
