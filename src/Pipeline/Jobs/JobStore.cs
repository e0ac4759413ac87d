using System.Text;
using GuidedNet.Pipeline.Storage;

namespace GuidedNet.Pipeline.Jobs;

/// <summary>
/// The job's files under <c>jobs/&lt;id&gt;/</c> and the writes of the protocol: status.json only ever
/// changes by a write conditional on the ETag its writer read (or create-only), so of two actors
/// racing for a job exactly one wins and the other is told; each attempt writes its own files under
/// <c>attempts/&lt;n&gt;/</c>, a folder no other attempt writes.
/// </summary>
public sealed class JobStore(PipelineStorage storage)
{
    public static string Folder(string jobId) => $"{BlobLayout.Jobs}/{jobId}/";
    public static string MessagePath(string jobId) => Folder(jobId) + "job.json";
    public static string StatusPath(string jobId) => Folder(jobId) + "status.json";
    public static string CancelPath(string jobId) => Folder(jobId) + "cancel.json";
    public static string LogPath(string jobId) => Folder(jobId) + "log.txt";
    public static string AttemptFolder(string jobId, int attempt) => $"{Folder(jobId)}attempts/{attempt}/";
    public static string CheckpointPath(string jobId, int attempt) => AttemptFolder(jobId, attempt) + "checkpoint.zip";

    /// <summary>Where an attempt stages an output before the orchestration commits it to <paramref name="final"/>.</summary>
    public static string StagedPath(string jobId, int attempt, string final) => AttemptFolder(jobId, attempt) + "outputs/" + final;

    public PipelineStorage Storage => storage;

    public Task<Versioned<JobStatus>?> ReadAsync(string jobId, CancellationToken cancellation = default) =>
        storage.ReadVersionedJsonAsync<JobStatus>(StatusPath(jobId), cancellation);

    /// <summary>
    /// Writes the next status over the version read at <paramref name="ifMatch"/> (create-only when
    /// null); returns the new version, or null when another actor changed status.json first.
    /// </summary>
    public async Task<Versioned<JobStatus>?> TryWriteAsync(JobStatus next, string? ifMatch, CancellationToken cancellation = default) =>
        await storage.TryWriteJsonAsync(StatusPath(next.JobId), next, ifMatch, cancellation) is { } etag ? new Versioned<JobStatus>(next, etag) : null;

    /// <summary>The message of the newest dispatched attempt, for people reading the job folder.</summary>
    public Task WriteMessageAsync(JobMessage message, CancellationToken cancellation = default) =>
        storage.WriteJsonAsync(MessagePath(message.JobId), message, cancellation);

    public Task<bool> IsCancelRequestedAsync(string jobId, CancellationToken cancellation = default) =>
        storage.ExistsAsync(CancelPath(jobId), cancellation);

    /// <summary>Asks whoever holds the job (or will) to cancel it. The first request is kept; later ones change nothing.</summary>
    public async Task RequestCancelAsync(string jobId, string runId, DateTime now, CancellationToken cancellation = default) =>
        await storage.TryWriteJsonAsync(CancelPath(jobId), new CancelRequest(jobId, runId, now), ifMatch: null, cancellation);

    /// <summary>Adds one attempt's output to log.txt; concurrent appends re-read and append again rather than overwrite each other.</summary>
    public async Task AppendLogAsync(string jobId, string text, CancellationToken cancellation = default)
    {
        string path = LogPath(jobId);
        for (int tries = 0; tries < 10; tries++)
        {
            var current = await storage.ReadContentAsync(path, 64 << 20, cancellation);
            byte[] bytes = (current?.Bytes ?? []).Concat(Encoding.UTF8.GetBytes(text)).ToArray();
            if (await storage.TryWriteBytesAsync(path, bytes, current?.Pin.ETag, "text/plain", cancellation) is not null) return;
        }
        throw new IOException($"{path}: could not append after 10 tries (other writers kept changing it)");
    }
}

/// <summary><c>jobs/&lt;id&gt;/cancel.json</c>: a cancel request for the job of a run.</summary>
public sealed record CancelRequest(string JobId, string Run, DateTime RequestedUtc);
