using System.Globalization;
using System.Text;
using GuidedNet.Pipeline.Contracts;
using GuidedNet.Pipeline.Storage;
using Microsoft.DurableTask;

namespace GuidedNet.Pipeline.Activities;

public sealed record RegisterModelInput(string Dataset, string Version, string ModelPrefix, string ManifestPath, TrainRequest Request, double Margin);

public sealed record ModelRegistration(string Version, double? ValidationMeanDice, string? ProductionVersion, double? ProductionMeanDice, bool Promoted, string Decision);

/// <summary>
/// Registers a trained model: reads its metrics.json, promotes it to production when its
/// validation mean Dice beats production's by the margin, and writes its registration and model
/// card; otherwise it stays a candidate in its version folder. production.json is written only
/// over the version the decision was made on: when another registration changes it first, the
/// decision is made again against the new production, so racing registrations leave the better
/// model in production and the other a candidate.
/// </summary>
public sealed class RegisterModelActivity(PipelineStorage storage, TimeProvider clock) : TaskActivity<RegisterModelInput, ModelRegistration>
{
    public override async Task<ModelRegistration> RunAsync(TaskActivityContext context, RegisterModelInput input)
    {
        string metricsPath = input.ModelPrefix + BlobLayout.MetricsFile;
        var metrics = await storage.ReadJsonAsync<ModelMetrics>(metricsPath)
                      ?? throw new InvalidDataException($"{metricsPath}: missing; the training job did not complete its outputs");
        // A diverged run reports NaN: that is no validation score (and not a number the orchestration can carry).
        if (metrics.ValidationMeanDice is { } dice && !double.IsFinite(dice)) metrics = metrics with { ValidationMeanDice = null };
        string productionPath = BlobLayout.Production(input.Dataset);
        ModelRegistration registration;
        while (true)
        {
            var production = await storage.ReadVersionedJsonAsync<ProductionModel>(productionPath);
            var (promote, decision) = Promotion.Decide(input.Version, metrics.ValidationMeanDice, production?.Value, input.Margin);
            registration = new ModelRegistration(input.Version, metrics.ValidationMeanDice, production?.Value.Version,
                production?.Value.ValidationMeanDice is { } current && double.IsFinite(current) ? current : null, promote, decision);
            if (!promote || production?.Value.Version == input.Version) break;
            var next = new ProductionModel(input.Dataset, input.Version, input.ModelPrefix + BlobLayout.ModelFile, metrics.ValidationMeanDice, input.ManifestPath,
                clock.GetUtcNow().UtcDateTime, input.Request);
            if (await storage.TryWriteJsonAsync(productionPath, next, production?.ETag) is not null) break;
        }
        await storage.WriteJsonAsync(input.ModelPrefix + "registration.json", registration);
        var manifest = await storage.ReadJsonAsync<DatasetManifest>(input.ManifestPath);
        byte[]? datasetJson = null;
        if (manifest is not null && await storage.OpenPinnedAsync(manifest.DatasetJson) is { Length: <= 1 << 20 } pinned)
            await using (var content = pinned.Content)
            {
                using var bytes = new MemoryStream();
                await content.CopyToAsync(bytes);
                datasetJson = bytes.ToArray();
            }
        string card = ModelCard.Write(input, metrics, registration, manifest, datasetJson, await PlanAsync(input.ModelPrefix + BlobLayout.TrainingFile));
        await storage.WriteBytesAsync(input.ModelPrefix + BlobLayout.ModelCardFile, Encoding.UTF8.GetBytes(card), "text/markdown");
        return registration;
    }

    /// <summary>The preprocessing plan the run recorded in its training.json (<c>data.plan</c>), or null.</summary>
    private async Task<System.Text.Json.JsonElement?> PlanAsync(string trainingJson)
    {
        if (await storage.ReadContentAsync(trainingJson, 256L * 1024 * 1024) is not { } content) return null;
        try
        {
            using var doc = System.Text.Json.JsonDocument.Parse(content.Bytes);
            return doc.RootElement.TryGetProperty("data", out var data) && data.TryGetProperty("plan", out var plan) ? plan.Clone() : null;
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }
}

/// <summary>The production model of a project (null when it has none).</summary>
public sealed class FindProductionModelActivity(PipelineStorage storage) : TaskActivity<string, ProductionModel?>
{
    public override Task<ProductionModel?> RunAsync(TaskActivityContext context, string project) =>
        storage.ReadJsonAsync<ProductionModel>(BlobLayout.Production(project));
}

/// <summary>The promotion rule: when a newly trained model replaces production.</summary>
public static class Promotion
{
    public static (bool Promote, string Decision) Decide(string version, double? candidateDice, ProductionModel? production, double margin)
    {
        if (production?.Version == version) return (true, "already production");
        if (production is null) return (true, "first model of this dataset");
        if (candidateDice is not { } candidate) return (false, "no validation Dice (no validation cases): kept as a candidate");
        double current = production.ValidationMeanDice is { } d && double.IsFinite(d) ? d : double.NegativeInfinity;
        bool promote = candidate > current + margin;
        return (promote, string.Create(CultureInfo.InvariantCulture,
            $"validation mean Dice {candidate:F4} {(promote ? "beats" : "does not beat")} production {production.Version} {current:F4} by more than {margin:F4}"));
    }
}
