using GuidedNet.Imaging.Nifti;
using GuidedNet.Pipeline.Api;
using GuidedNet.Pipeline.Contracts;
using GuidedNet.Pipeline.Options;
using GuidedNet.Pipeline.Storage;
using Microsoft.DurableTask.Client;

namespace GuidedNet.Pipeline.Scheduling;

/// <summary>
/// Scheduled retraining: every dataset with a production model and cases its production manifest
/// has not seen (new scans that joined the unlabeled pool, new labeled cases) is trained again with
/// the production model's settings. Nothing starts when nothing changed, and a dataset with a
/// training run still going is left alone.
/// </summary>
public sealed class RetrainPlanner(DurableTaskClient client, PipelineStorage storage, JobOptions jobs, PromotionOptions promotion, TimeProvider? clock = null)
{
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;

    /// <summary>Datasets with new cases: each with its production model and the cases that are new.</summary>
    public async Task<IReadOnlyList<(string Dataset, ProductionModel Production, IReadOnlyList<string> NewCases)>> FindStaleAsync(CancellationToken cancellation = default)
    {
        var stale = new List<(string, ProductionModel, IReadOnlyList<string>)>();
        foreach (string dataset in await storage.ListFoldersAsync(BlobLayout.Datasets + "/", cancellation))
        {
            var production = await storage.ReadJsonAsync<ProductionModel>(BlobLayout.Production(dataset), cancellation);
            if (production is null) continue;
            var manifest = await storage.ReadJsonAsync<DatasetManifest>(production.ManifestPath, cancellation);
            if (manifest is null) continue;
            var seen = manifest.Cases.Select(c => c.Name).Concat(manifest.Quarantined.Select(c => c.Name)).ToHashSet();
            var current = (await storage.ListAsync(BlobLayout.DatasetPrefix(dataset) + "imagesTr/", cancellation)).Select(b => NiftiFileNames.CaseName(b.Path));
            var fresh = current.Where(c => !seen.Contains(c)).Distinct().ToList();
            if (fresh.Count > 0) stale.Add((dataset, production, fresh));
        }
        return stale;
    }

    /// <summary>What the timer runs: starts one training run per stale dataset; returns their ids.</summary>
    public async Task<IReadOnlyList<string>> RunAsync(CancellationToken cancellation = default)
    {
        var started = new List<string>();
        foreach (var (dataset, production, _) in await FindStaleAsync(cancellation))
        {
            if (await IsTrainingAsync(dataset, cancellation)) continue;
            started.Add(await PipelineApi.StartTrainingAsync(client, dataset, production.Request, jobs, promotion, _clock.GetUtcNow().UtcDateTime, cancellation));
        }
        return started;
    }

    private async Task<bool> IsTrainingAsync(string dataset, CancellationToken cancellation)
    {
        var query = new OrchestrationQuery
        {
            InstanceIdPrefix = $"train-{dataset}-v",
            Statuses = new[] { OrchestrationRuntimeStatus.Pending, OrchestrationRuntimeStatus.Running, OrchestrationRuntimeStatus.Suspended },
        };
        await foreach (var _ in client.GetAllInstancesAsync(query).WithCancellation(cancellation)) return true;
        return false;
    }
}
