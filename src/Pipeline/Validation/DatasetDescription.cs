using System.Text.Json;
using GuidedNet.Pipeline.Storage;

namespace GuidedNet.Pipeline.Validation;

/// <summary>What the pipeline reads from a dataset's dataset.json: its class count (background included).</summary>
public static class DatasetDescription
{
    /// <summary>The number of entries of "labels" (MSD or nnU-Net v2 style); null when the dataset has no dataset.json.</summary>
    public static async Task<int?> ReadClassCountAsync(PipelineStorage storage, string dataset, CancellationToken cancellation = default)
    {
        string path = BlobLayout.DatasetJson(dataset);
        if (!await storage.ExistsAsync(path, cancellation)) return null;
        var json = await storage.ReadBytesAsync(path, 1 << 20, cancellation);
        try
        {
            using var doc = JsonDocument.Parse(json);
            if (doc.RootElement.TryGetProperty("labels", out var labels) && labels.ValueKind == JsonValueKind.Object)
            {
                int count = labels.EnumerateObject().Count();
                if (count >= 2) return count;
            }
            throw new InvalidDataException($"{path}: \"labels\" must name at least background and one class");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid JSON: {e.Message}", e);
        }
    }
}
