using System.Globalization;
using System.Text;
using System.Text.Json;
using GuidedNet.Imaging.Labels;
using GuidedNet.Pipeline.Contracts;

namespace GuidedNet.Pipeline.Activities;

/// <summary>
/// <c>model-card.md</c>: what a model is, what it was trained on and how well it did — its status
/// and decision, the data's name, licence and provenance (from the dataset.json the manifest pinned),
/// the cases by role, the preprocessing plan it applies, its label table, and every validation
/// figure with the number of cases behind it.
/// </summary>
public static class ModelCard
{
    /// <param name="datasetJson">the bytes of the dataset.json the manifest pinned (null when they are no longer stored)</param>
    /// <param name="plan">the preprocessing plan from the run's training.json (<c>data.plan</c>; null when absent)</param>
    public static string Write(RegisterModelInput input, ModelMetrics metrics, ModelRegistration registration, DatasetManifest? manifest,
        byte[]? datasetJson, JsonElement? plan)
    {
        var card = new StringBuilder();
        void Line(FormattableString text) => card.AppendLine(text.ToString(CultureInfo.InvariantCulture));
        using var dataset = TryParse(datasetJson);
        var description = dataset?.RootElement;

        Line($"# {input.Dataset} {input.Version}");
        card.AppendLine();
        Line($"- Status: {(registration.Promoted ? "production" : "candidate")} ({registration.Decision})");
        Line($"- Method: GuidedNet ({input.Request.Mode}), preset {input.Request.Preset}, {metrics.Iterations} iterations, best at {metrics.BestIteration}");
        Line($"- Training time: {metrics.WallSeconds:F0} s");
        card.AppendLine(metrics.KeepLargestComponent is { Length: > 0 } keep
            ? $"- Post-processing: only the largest connected component is kept of {string.Join(", ", keep)} (it raised their validation Dice)"
            : "- Post-processing: none (no class qualified on the validation cases, or there were none)");
        card.AppendLine(metrics.FastParts is { } fast
            ? $"- Fast prediction (`Worker__Fast=fast`): {fast} — {metrics.FastPartsReason}"
            : "- Fast prediction (`Worker__Fast=fast`): not calibrated (no validation cases): bf16 and skipping air");

        card.AppendLine().AppendLine("## Data");
        card.AppendLine();
        Line($"- Dataset: {Text(description, "name") ?? input.Dataset}{(Text(description, "description") is { } about ? $" — {about}" : "")}");
        Line($"- Licence: {Text(description, "licence") ?? Text(description, "license") ?? "not stated in dataset.json: state the data's licence before this model is shared"}");
        if (Text(description, "reference") is { } reference) Line($"- Reference: {reference}");
        if (Text(description, "release") is { } release) Line($"- Release: {release}");
        Line($"- Trained on: `{input.ManifestPath}`{(manifest is null ? "" : $" (dataset.json `{manifest.DatasetJson.Path}`, MD5 {manifest.DatasetJson.ContentHash})")}");
        if (metrics.Cases is { } cases)
        {
            string leftOut = manifest?.OutsidePool is { Count: > 0 } left ? $"; {left.Count} unlabeled left out by the pool policy" : "";
            Line($"- Cases: {cases.Labeled} labeled, {cases.Unlabeled} unlabeled, {cases.Validation} validation{leftOut}");
        }
        if (manifest is { Quarantined.Count: > 0 }) Line($"- Quarantined from this run: {manifest.Quarantined.Count} case(s), listed in the manifest with their reasons");

        card.AppendLine().AppendLine("## Preprocessing plan");
        card.AppendLine();
        if (plan is { ValueKind: JsonValueKind.Object } p)
            foreach (var setting in p.EnumerateObject().Where(s => s.Value.ValueKind != JsonValueKind.Null))
                Line($"- {setting.Name}: {Compact(setting.Value)}");
        else card.AppendLine("- not recorded (the run's training.json has no plan)");

        card.AppendLine().AppendLine("## Labels");
        card.AppendLine();
        card.AppendLine("| value | name | colour |");
        card.AppendLine("|---|---|---|");
        foreach (var (value, name) in Labels(description))
        {
            var c = LabelTable.DefaultColour(value);
            Line($"| {value} | {name} | #{c[0]:x2}{c[1]:x2}{c[2]:x2} |");
        }

        int? n = metrics.Cases?.Validation;
        string ofN = n is { } count ? $"n = {count} validation case{(count == 1 ? "" : "s")}" : "n not recorded";
        card.AppendLine().AppendLine("## Validation");
        card.AppendLine();
        Line($"- Mean Dice: {metrics.ValidationMeanDice?.ToString("F4", CultureInfo.InvariantCulture) ?? "n/a"} ({ofN})");
        card.AppendLine();
        Line($"| class | validation Dice ({ofN}) |");
        card.AppendLine("|---|---|");
        foreach (var (name, dice) in metrics.DiceByClass)
            Line($"| {name} | {dice?.ToString("F4", CultureInfo.InvariantCulture) ?? "absent"} |");
        card.AppendLine();
        card.AppendLine("Intended use: research segmentation of abdominal CT; not a medical device. Validation Dice is measured on cases held out of this run's manifest.");
        return card.ToString();
    }

    private static JsonDocument? TryParse(byte[]? json)
    {
        if (json is null) return null;
        try
        {
            return JsonDocument.Parse(json);
        }
        catch (JsonException)
        {
            return null; // validated when the run started; a card never fails the registration
        }
    }

    /// <summary>A one-line text field of dataset.json (MSD's free text may hold line breaks, and a card line is one line).</summary>
    private static string? Text(JsonElement? description, string field) =>
        description is { ValueKind: JsonValueKind.Object } d && d.TryGetProperty(field, out var value) && value.ValueKind == JsonValueKind.String
        && value.GetString() is { Length: > 0 } text
            ? string.Join(' ', text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)).Replace("|", "/")
            : null;

    /// <summary>The foreground labels of dataset.json, by value: MSD's <c>{"1": "liver"}</c> or nnU-Net v2's <c>{"liver": 1}</c>.</summary>
    private static IEnumerable<(int Value, string Name)> Labels(JsonElement? description)
    {
        if (description is not { ValueKind: JsonValueKind.Object } d || !d.TryGetProperty("labels", out var labels) || labels.ValueKind != JsonValueKind.Object)
            return [];
        return labels.EnumerateObject()
            .Select(l => l.Value.ValueKind == JsonValueKind.Number && l.Value.TryGetInt32(out int v) ? (v, l.Name)
                : int.TryParse(l.Name, NumberStyles.Integer, CultureInfo.InvariantCulture, out int k) && l.Value.ValueKind == JsonValueKind.String ? (k, l.Value.GetString()!)
                : (-1, ""))
            .Where(l => l.Item1 > 0)
            .OrderBy(l => l.Item1)
            .Select(l => (l.Item1, l.Item2.Replace("|", "/")));
    }

    private static string Compact(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString()!,
        JsonValueKind.Object or JsonValueKind.Array => JsonSerializer.Serialize(value),
        _ => value.GetRawText(),
    };
}
