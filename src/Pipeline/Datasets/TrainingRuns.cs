using GuidedNet.Pipeline.Activities;
using GuidedNet.Pipeline.Contracts;
using GuidedNet.Pipeline.Jobs;
using GuidedNet.Pipeline.Options;
using GuidedNet.Pipeline.Orchestrations;
using GuidedNet.Pipeline.Storage;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;

namespace GuidedNet.Pipeline.Datasets;

/// <summary>A training start: the run that was started, or the active run that kept it from starting.</summary>
public sealed record TrainingStart(string? Started, string? Active);

/// <summary>
/// Starts training runs, at most one active per dataset. The dataset is claimed by writing
/// <c>models/&lt;name&gt;/active-run.json</c> create-only, or over a holder that has ended — a
/// conditional write, so of concurrent requests exactly one claims it and the others are told
/// which run is active. Both the API and the schedule start runs only through here.
/// </summary>
public sealed class TrainingRuns(DurableTaskClient client, PipelineStorage storage, JobOptions jobs, PromotionOptions promotion, PoolOptions pool, TimeProvider clock)
{
    /// <summary>
    /// How long a claimed run that the durable backend does not know yet counts as active: the
    /// request that claimed it is still scheduling it (or died doing so, and the claim expires).
    /// </summary>
    public static readonly TimeSpan StartGrace = TimeSpan.FromMinutes(2);

    public async Task<TrainingStart> StartAsync(string dataset, TrainRequest request, CancellationToken cancellation = default)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        string version = RunIds.NewVersion(now);
        string run = RunIds.Training(dataset, version);
        if (await TryClaimAsync(dataset, run, now, cancellation) is { } active) return new TrainingStart(null, active);
        try
        {
            await client.ScheduleNewOrchestrationInstanceAsync(TaskNames.TrainDataset,
                new TrainDatasetInput(dataset, version, request, MonitorSettings.From(jobs), promotion.Margin, Pool: pool.For(dataset, request)),
                new StartOrchestrationOptions { InstanceId = run }, cancellation);
        }
        catch
        {
            await ReleaseAsync(dataset, run);
            throw;
        }
        return new TrainingStart(run, null);
    }

    /// <summary>Null when <paramref name="run"/> now holds the dataset; otherwise the id of the active run that does.</summary>
    private async Task<string?> TryClaimAsync(string dataset, string run, DateTime now, CancellationToken cancellation)
    {
        string path = BlobLayout.ActiveTrainingRun(dataset);
        for (int tries = 0; tries < 10; tries++)
        {
            var holder = await storage.ReadVersionedJsonAsync<ActiveTrainingRun>(path, cancellation);
            if (holder is not null && await IsActiveAsync(holder.Value, now, cancellation)) return holder.Value.Run;
            if (await storage.TryWriteJsonAsync(path, new ActiveTrainingRun(dataset, run, now), holder?.ETag, cancellation) is not null) return null;
        }
        throw new IOException($"{path}: could not be claimed after 10 tries (other requests kept changing it)");
    }

    /// <summary>Gives the claim back when the run could not be scheduled (only if it is still this run's).</summary>
    private async Task ReleaseAsync(string dataset, string run)
    {
        string path = BlobLayout.ActiveTrainingRun(dataset);
        if (await storage.ReadVersionedJsonAsync<ActiveTrainingRun>(path) is { } holder && holder.Value.Run == run)
            await storage.DeleteIfUnchangedAsync(new BlobPin(path, holder.ETag));
    }

    private async Task<bool> IsActiveAsync(ActiveTrainingRun holder, DateTime now, CancellationToken cancellation)
    {
        var instance = await client.GetInstanceAsync(holder.Run, getInputsAndOutputs: false, cancellation);
        if (instance is null) return now - holder.RequestedUtc < StartGrace;
        return instance.RuntimeStatus is OrchestrationRuntimeStatus.Pending or OrchestrationRuntimeStatus.Running or OrchestrationRuntimeStatus.Suspended
#pragma warning disable CS0618 // a run continuing as new is still active
            or OrchestrationRuntimeStatus.ContinuedAsNew;
#pragma warning restore CS0618
    }
}
