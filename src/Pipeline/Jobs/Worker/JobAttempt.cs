using GuidedNet.Pipeline.Storage;

namespace GuidedNet.Pipeline.Jobs.Worker;

/// <summary>Runs one kind of job (training, prediction) for the worker host.</summary>
public interface IJobRunner
{
    /// <summary>
    /// Runs the attempt; true when the job is complete (its outputs staged through
    /// <see cref="JobAttempt.StageOutputAsync"/>), false when it stopped on cancellation after
    /// saving what a later attempt resumes from (<see cref="JobAttempt.SaveCheckpointAsync"/>).
    /// </summary>
    Task<bool> RunAsync(JobAttempt attempt, CancellationToken cancellation);
}

/// <summary>The attempt's claim no longer holds the job: it must stop and write nothing more.</summary>
public sealed class JobSupersededException(string message) : OperationCanceledException(message);

/// <summary>
/// One claimed attempt of a job, as its runner sees it: the message, progress, and the only ways
/// the attempt writes anything. Each write first confirms the claim by a conditional write of
/// status.json; once a write is refused because the job moved on (re-dispatched, failed,
/// cancelled), the attempt is superseded — <see cref="Superseded"/> fires, and every later write
/// throws <see cref="JobSupersededException"/> before touching storage.
/// </summary>
public sealed class JobAttempt : IDisposable
{
    private readonly JobStore _store;
    private readonly TimeProvider _clock;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly CancellationTokenSource _superseded = new();
    private readonly List<JobOutput> _outputs = new();
    private Versioned<JobStatus> _status;
    private string? _supersededReason;

    public JobAttempt(JobStore store, JobMessage message, Versioned<JobStatus> claimed, TextWriter log, TimeProvider clock)
    {
        _store = store;
        _clock = clock;
        _status = claimed;
        Message = message;
        Log = log;
        Owner = claimed.Value.Owner ?? throw new ArgumentException("a claimed status names its owner", nameof(claimed));
        ResumeCheckpoint = claimed.Value.LastCheckpoint;
    }

    public JobMessage Message { get; }
    public string JobId => Message.JobId;
    public int Number => Message.Attempt;
    public string Owner { get; }
    public JobProgress Progress { get; } = new();
    public TextWriter Log { get; }
    public PipelineStorage Storage => _store.Storage;

    /// <summary>The checkpoint an earlier attempt (or an earlier claim of this one) left; the runner resumes from it.</summary>
    public string? ResumeCheckpoint { get; }

    /// <summary>Fires when the claim is found superseded.</summary>
    public CancellationToken Superseded => _superseded.Token;

    public bool IsSuperseded => _supersededReason is not null;
    public string? SupersededReason => _supersededReason;
    public IReadOnlyList<JobOutput> Outputs => _outputs;
    public JobStatus Status => _status.Value;

    /// <summary>Confirms the claim and records the progress so far (heartbeat).</summary>
    public Task HeartbeatAsync(CancellationToken cancellation = default) =>
        WriteAsync(s => JobTransitions.Heartbeat(Progress.Apply(s), Now), cancellation);

    /// <summary>
    /// Stores a checkpoint under this attempt's folder and records it in status.json, so a later
    /// attempt resumes from it; refused (<see cref="JobSupersededException"/>) before the upload
    /// when the claim no longer holds the job. Returns the checkpoint's blob path.
    /// </summary>
    public async Task<string> SaveCheckpointAsync(string localFile, CancellationToken cancellation = default)
    {
        await HeartbeatAsync(cancellation);
        string path = JobStore.CheckpointPath(JobId, Number);
        await Storage.UploadFileAsync(path, localFile, cancellation: cancellation);
        Progress.Checkpoint(path);
        await WriteAsync(s => JobTransitions.Heartbeat(Progress.Apply(s), Now), cancellation);
        return path;
    }

    /// <summary>
    /// Stages an output under this attempt's folder; the orchestration copies it to
    /// <paramref name="final"/> once the job has succeeded. Refused before the upload when the claim
    /// no longer holds the job.
    /// </summary>
    public async Task StageOutputAsync(string final, string localFile, CancellationToken cancellation = default)
    {
        await HeartbeatAsync(cancellation);
        var staged = await Storage.UploadFileAsync(JobStore.StagedPath(JobId, Number, final), localFile, createOnly: false, cancellation);
        lock (_outputs)
        {
            _outputs.RemoveAll(o => o.Final == final);
            _outputs.Add(new JobOutput(staged.Path, final, staged.Md5!));
        }
    }

    /// <summary>Writes the attempt's last status (succeeded, released, ...); false when the claim was superseded first.</summary>
    internal async Task<bool> FinishAsync(Func<JobStatus, DateTime, JobStatus> transition)
    {
        try
        {
            await WriteAsync(s => transition(Progress.Apply(s) with { Timings = Merge(s.Timings, Progress.Timings()) }, Now), CancellationToken.None);
            return true;
        }
        catch (JobSupersededException)
        {
            return false;
        }
    }

    private DateTime Now => _clock.GetUtcNow().UtcDateTime;

    /// <summary>
    /// The one way the attempt changes status.json: conditional on the version it last wrote. A
    /// refused write re-reads; if the claim still holds (nothing should write a held job, but a
    /// stray write must not end a healthy attempt) it writes again over the new version, otherwise
    /// the attempt is superseded.
    /// </summary>
    private async Task WriteAsync(Func<JobStatus, JobStatus> change, CancellationToken cancellation)
    {
        await _gate.WaitAsync(cancellation);
        try
        {
            for (int tries = 0; ; tries++)
            {
                if (_supersededReason is not null) throw new JobSupersededException(_supersededReason);
                var written = await _store.TryWriteAsync(change(_status.Value), _status.ETag, cancellation);
                if (written is not null)
                {
                    _status = written;
                    return;
                }
                var current = await _store.ReadAsync(JobId, cancellation);
                if (current is not null && JobOwnership.Holds(current.Value, Number, Owner) && tries < 3)
                {
                    _status = current;
                    continue;
                }
                _supersededReason = $"{JobId}: attempt {Number} ({Owner}) no longer holds the job — {JobOwnership.WhyNotHeld(current?.Value, Number)}; its write was refused";
                _superseded.Cancel();
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    private static Dictionary<string, double> Merge(Dictionary<string, double> a, Dictionary<string, double> b)
    {
        var merged = new Dictionary<string, double>(a);
        foreach (var (k, v) in b) merged[k] = merged.GetValueOrDefault(k) + v;
        return merged;
    }

    public void Dispose()
    {
        _gate.Dispose();
        _superseded.Dispose();
    }
}
