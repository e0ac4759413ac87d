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
        await storage.WriteBytesAsync(input.ModelPrefix + BlobLayout.ModelCardFile, Encoding.UTF8.GetBytes(ModelCard(input, metrics, registration, manifest)), "text/markdown");
        return registration;
    }

    private static string ModelCard(RegisterModelInput input, ModelMetrics metrics, ModelRegistration registration, DatasetManifest? manifest)
    {
        var card = new StringBuilder();
        card.AppendLine(CultureInfo.InvariantCulture, $"# {input.Dataset} {input.Version}");
        card.AppendLine();
        card.AppendLine(CultureInfo.InvariantCulture, $"- Status: {(registration.Promoted ? "production" : "candidate")} ({registration.Decision})");
        card.AppendLine(CultureInfo.InvariantCulture, $"- Method: GuidedNet ({input.Request.Mode}), preset {input.Request.Preset}, {metrics.Iterations} iterations, best at {metrics.BestIteration}");
        card.AppendLine(CultureInfo.InvariantCulture, $"- Trained on: `{input.ManifestPath}`");
        if (metrics.Cases is { } cases)
        {
            string leftOut = manifest?.OutsidePool is { Count: > 0 } left ? $"; {left.Count} unlabeled left out by the pool policy" : "";
            card.AppendLine(CultureInfo.InvariantCulture, $"- Cases: {cases.Labeled} labeled, {cases.Unlabeled} unlabeled, {cases.Validation} validation{leftOut}");
        }
        card.AppendLine(CultureInfo.InvariantCulture, $"- Validation mean Dice: {metrics.ValidationMeanDice?.ToString("F4", CultureInfo.InvariantCulture) ?? "n/a"}");
        card.AppendLine(CultureInfo.InvariantCulture, $"- Training time: {metrics.WallSeconds:F0} s");
        card.AppendLine(metrics.KeepLargestComponent is { Length: > 0 } keep
            ? $"- Post-processing: only the largest connected component is kept of {string.Join(", ", keep)} (it raised their validation Dice)"
            : "- Post-processing: none (no class qualified on the validation cases, or there were none)");
        card.AppendLine();
        card.AppendLine("| class | validation Dice |");
        card.AppendLine("|---|---|");
        foreach (var (name, dice) in metrics.DiceByClass)
            card.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {dice?.ToString("F4", CultureInfo.InvariantCulture) ?? "absent"} |");
        card.AppendLine();
        card.AppendLine("Intended use: research segmentation of abdominal CT; not a medical device. Validation Dice is measured on cases held out of this run's manifest.");
        return card.ToString();
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
