using System.Globalization;
using System.Text;
using GuidedNet.Pipeline.Contracts;
using GuidedNet.Pipeline.Storage;
using Microsoft.DurableTask;

namespace GuidedNet.Pipeline.Activities;

public sealed record RegisterModelInput(string Dataset, string Version, string ModelPrefix, string ManifestPath, TrainRequest Request, double Margin);

public sealed record ModelRegistration(string Version, double? ValidationMeanDice, string? ProductionVersion, double? ProductionMeanDice, bool Promoted, string Decision);

/// <summary>
/// Registers a trained model: reads its metrics.json, writes its model card, and promotes it to
/// production only when its validation mean Dice beats production's by the margin; otherwise it
/// stays a candidate in its version folder.
/// </summary>
public sealed class RegisterModelActivity(PipelineStorage storage) : TaskActivity<RegisterModelInput, ModelRegistration>
{
    public override async Task<ModelRegistration> RunAsync(TaskActivityContext context, RegisterModelInput input)
    {
        string metricsPath = input.ModelPrefix + BlobLayout.MetricsFile;
        var metrics = await storage.ReadJsonAsync<ModelMetrics>(metricsPath)
                      ?? throw new InvalidDataException($"{metricsPath}: missing; the training job did not complete its outputs");
        string productionPath = BlobLayout.Production(input.Dataset);
        var production = await storage.ReadJsonAsync<ProductionModel>(productionPath);

        bool promote;
        string decision;
        if (production?.Version == input.Version)
        {
            promote = true;
            decision = "already production";
        }
        else if (production is null)
        {
            promote = true;
            decision = "first model of this dataset";
        }
        else if (metrics.ValidationMeanDice is not { } candidate)
        {
            promote = false;
            decision = "no validation Dice (no validation cases): kept as a candidate";
        }
        else
        {
            double current = production.ValidationMeanDice ?? double.NegativeInfinity;
            promote = candidate > current + input.Margin;
            decision = string.Create(CultureInfo.InvariantCulture,
                $"validation mean Dice {candidate:F4} {(promote ? "beats" : "does not beat")} production {production.Version} {current:F4} by more than {input.Margin:F4}");
        }

        if (promote && production?.Version != input.Version)
            await storage.WriteJsonAsync(productionPath, new ProductionModel(input.Dataset, input.Version, input.ModelPrefix + BlobLayout.ModelFile,
                metrics.ValidationMeanDice, input.ManifestPath, DateTime.UtcNow, input.Request));
        var registration = new ModelRegistration(input.Version, metrics.ValidationMeanDice, production?.Version, production?.ValidationMeanDice, promote, decision);
        await storage.WriteJsonAsync(input.ModelPrefix + "registration.json", registration);
        await storage.WriteBytesAsync(input.ModelPrefix + BlobLayout.ModelCardFile, Encoding.UTF8.GetBytes(ModelCard(input, metrics, registration)), "text/markdown");
        return registration;
    }

    private static string ModelCard(RegisterModelInput input, ModelMetrics metrics, ModelRegistration registration)
    {
        var card = new StringBuilder();
        card.AppendLine(CultureInfo.InvariantCulture, $"# {input.Dataset} {input.Version}");
        card.AppendLine();
        card.AppendLine(CultureInfo.InvariantCulture, $"- Status: {(registration.Promoted ? "production" : "candidate")} ({registration.Decision})");
        card.AppendLine(CultureInfo.InvariantCulture, $"- Method: GuidedNet ({input.Request.Mode}), preset {input.Request.Preset}, {metrics.Iterations} iterations, best at {metrics.BestIteration}");
        card.AppendLine(CultureInfo.InvariantCulture, $"- Trained on: `{input.ManifestPath}`");
        card.AppendLine(CultureInfo.InvariantCulture, $"- Validation mean Dice: {metrics.ValidationMeanDice?.ToString("F4", CultureInfo.InvariantCulture) ?? "n/a"}");
        card.AppendLine(CultureInfo.InvariantCulture, $"- Training time: {metrics.WallSeconds:F0} s");
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
