using System.Text.Json;
using GuidedNet.Pipeline.Storage;

namespace GuidedNet.Pipeline.Validation;

/// <summary>
/// What the pipeline reads from a dataset's dataset.json: its class count (background included),
/// with the pin of the very bytes it was read from.
/// </summary>
public sealed record DatasetDescription(BlobPin File, int NumClasses)
{
    /// <summary>The number of entries of "labels" (MSD or nnU-Net v2 style); null when the dataset has no dataset.json.</summary>
    public static async Task<DatasetDescription?> ReadAsync(PipelineStorage storage, string dataset, CancellationToken cancellation = default)
    {
        string path = BlobLayout.DatasetJson(dataset);
        if (await storage.ReadContentAsync(path, 1 << 20, cancellation) is not { } content) return null;
        try
        {
            using var doc = JsonDocument.Parse(content.Bytes);
            if (doc.RootElement.TryGetProperty("labels", out var labels) && labels.ValueKind == JsonValueKind.Object)
            {
                int count = labels.EnumerateObject().Count();
                if (count >= 2) return new DatasetDescription(content.Pin, count);
            }
            throw new InvalidDataException($"{path}: \"labels\" must name at least background and one class");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid JSON: {e.Message}", e);
        }
    }
}
