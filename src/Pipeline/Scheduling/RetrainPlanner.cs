using GuidedNet.Imaging;
using GuidedNet.Imaging.Nifti;
using GuidedNet.Pipeline.Contracts;
using GuidedNet.Pipeline.Datasets;
using GuidedNet.Pipeline.Storage;

namespace GuidedNet.Pipeline.Scheduling;

/// <summary>A dataset whose files differ from what its production model was trained on.</summary>
public sealed record StaleDataset(string Dataset, ProductionModel Production, IReadOnlyList<string> Changes);

/// <summary>
/// Scheduled retraining: every dataset with a production model whose files differ from the pinned
/// files of its production manifest — new cases (scans that joined the unlabeled pool, new labeled
/// cases), changed or newly labeled cases, removed cases, a changed dataset.json — is trained again
/// with the production model's settings. Nothing starts when nothing changed, and a dataset with a
/// training run still active is left alone (<see cref="TrainingRuns"/>).
/// </summary>
public sealed class RetrainPlanner(PipelineStorage storage, TrainingRuns runs)
{
    public async Task<IReadOnlyList<StaleDataset>> FindStaleAsync(CancellationToken cancellation = default)
    {
        var stale = new List<StaleDataset>();
        foreach (string dataset in await storage.ListFoldersAsync(BlobLayout.Datasets + "/", cancellation))
        {
            var production = await storage.ReadJsonAsync<ProductionModel>(BlobLayout.Production(dataset), cancellation);
            if (production is null) continue;
            var manifest = await storage.ReadJsonAsync<DatasetManifest>(production.ManifestPath, cancellation);
            if (manifest is null) continue;
            var changes = await ChangesSinceAsync(dataset, manifest, cancellation);
            if (changes.Count > 0) stale.Add(new StaleDataset(dataset, production, changes));
        }
        return stale;
    }

    /// <summary>How the dataset's files differ from the ones the manifest pins, in words ("new case x", "changed label of y").</summary>
    public async Task<IReadOnlyList<string>> ChangesSinceAsync(string dataset, DatasetManifest manifest, CancellationToken cancellation = default)
    {
        string prefix = BlobLayout.DatasetPrefix(dataset);
        var changes = new List<string>();
        if ((await storage.GetAsync(BlobLayout.DatasetJson(dataset), cancellation))?.ContentHash != manifest.DatasetJson.ContentHash)
            changes.Add("dataset.json changed");
        static Dictionary<string, List<BlobEntry>> ByCase(List<BlobEntry> files) =>
            files.GroupBy(f => ScanFileNames.CaseName(f.Path)).ToDictionary(g => g.Key, g => g.ToList());
        var images = ByCase(await storage.ListAsync(prefix + "imagesTr/", cancellation));
        var labels = ByCase(await storage.ListAsync(prefix + "labelsTr/", cancellation));
        var trained = manifest.Cases.ToDictionary(c => c.Name);
        var outsidePool = (manifest.OutsidePool ?? []).ToHashSet(StringComparer.Ordinal);
        foreach (string name in images.Keys.Concat(labels.Keys).Distinct().Order(StringComparer.Ordinal))
        {
            if (!trained.TryGetValue(name, out var used))
            {
                // Left out by the pool policy and still unlabeled: known, not new (a label for it is new).
                if (outsidePool.Contains(name) && !labels.ContainsKey(name)) continue;
                changes.Add($"new case {name}");
                continue;
            }
            var image = images.GetValueOrDefault(name);
            var label = labels.GetValueOrDefault(name);
            if (image is null) changes.Add($"removed image of {name}");
            else if (image is not [var i] || i.ContentHash != used.Image.ContentHash) changes.Add($"changed image of {name}");
            if (label is null && used.Label is not null) changes.Add($"removed label of {name}");
            else if (label is not null && used.Label is null) changes.Add($"new label of {name}");
            else if (label is not null && (label is not [var l] || l.ContentHash != used.Label!.ContentHash)) changes.Add($"changed label of {name}");
        }
        foreach (var c in manifest.Cases)
            if (!images.ContainsKey(c.Name) && !labels.ContainsKey(c.Name)) changes.Add($"removed case {c.Name}");
        return changes;
    }

    /// <summary>What the timer runs: starts one training run per stale dataset that has none active; returns their ids.</summary>
    public async Task<IReadOnlyList<string>> RunAsync(CancellationToken cancellation = default)
    {
        var started = new List<string>();
        foreach (var dataset in await FindStaleAsync(cancellation))
            if ((await runs.StartAsync(dataset.Dataset, dataset.Production.Request, cancellation)).Started is { } run)
                started.Add(run);
        return started;
    }
}
