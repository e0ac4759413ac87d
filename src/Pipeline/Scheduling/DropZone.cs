using GuidedNet.Imaging.Nifti;
using GuidedNet.Pipeline.Activities;
using GuidedNet.Pipeline.Contracts;
using GuidedNet.Pipeline.Options;
using GuidedNet.Pipeline.Orchestrations;
using GuidedNet.Pipeline.Storage;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;

namespace GuidedNet.Pipeline.Scheduling;

/// <summary>
/// Turns blobs under <c>scans/incoming/&lt;project&gt;/</c> into segmentation runs. The run id is
/// derived from the project, case and content hash, so the same scan dropped twice (or seen by two
/// polls, or by the blob trigger and a poll) starts one run and produces one result.
/// </summary>
public sealed class DropZone(DurableTaskClient client, PipelineStorage storage, JobOptions jobs)
{
    // Runs known to exist, so a poll asks the durable backend only about new blobs. Bounded: past
    // the limit it starts over, and the backend answers for the ones it forgot.
    private const int KnownRunsLimit = 100_000;
    private readonly HashSet<string> _started = new();

    public static string RunId(string project, string caseName, string contentHash) =>
        $"scan-{project}-{caseName}-{(contentHash.Length > 16 ? contentHash[..16] : contentHash)}";

    private void Remember(string id)
    {
        lock (_started)
        {
            if (_started.Count >= KnownRunsLimit) _started.Clear();
            _started.Add(id);
        }
    }

    /// <summary>One poll of the drop zone (the local host's stand-in for Event Grid); returns the runs it started.</summary>
    public async Task<IReadOnlyList<string>> PollAsync(CancellationToken cancellation = default)
    {
        var started = new List<string>();
        foreach (var blob in await storage.ListAsync($"{BlobLayout.Scans}/{BlobLayout.IncomingPrefix}", cancellation))
            if (await StartAsync(blob.Path, blob.ContentHash, cancellation) is { } id) started.Add(id);
        return started;
    }

    /// <summary>Starts the run for one dropped blob unless it already exists; null when nothing was started.</summary>
    public async Task<string?> StartAsync(string path, string contentHash, CancellationToken cancellation = default)
    {
        var (_, name) = BlobLayout.Split(path);
        var parts = name[BlobLayout.IncomingPrefix.Length..].Split('/');
        if (parts.Length != 2 || !BlobLayout.IsValidName(parts[0])) return null; // not <project>/<file>: not ours to process
        string project = parts[0], caseName = NiftiFileNames.CaseName(parts[1]);
        if (!BlobLayout.IsValidName(caseName)) caseName = "invalid-" + Convert.ToHexString(System.Security.Cryptography.SHA1.HashData(System.Text.Encoding.UTF8.GetBytes(parts[1])))[..8].ToLowerInvariant();
        string id = RunId(project, caseName, contentHash);
        lock (_started)
            if (_started.Contains(id)) return null;
        if (await client.GetInstanceAsync(id, getInputsAndOutputs: false, cancellation) is not null)
        {
            Remember(id);
            return null;
        }
        await client.ScheduleNewOrchestrationInstanceAsync(TaskNames.SegmentScan,
            new SegmentScanInput(new ScanDrop(project, caseName, path), MonitorSettings.From(jobs)),
            new StartOrchestrationOptions { InstanceId = id }, cancellation);
        Remember(id);
        return id;
    }
}
