namespace GuidedNet.Pipeline.Storage;

/// <summary>Moves inputs that failed validation to the quarantine with their reason.</summary>
public static class Quarantine
{
    public static async Task<string> MoveAsync(PipelineStorage storage, string area, string name, IEnumerable<string?> files, string reason, CancellationToken cancellation)
    {
        string prefix = BlobLayout.QuarantinePrefix(area, name);
        var moved = new List<string>();
        foreach (string? file in files)
        {
            if (string.IsNullOrEmpty(file) || !await storage.ExistsAsync(file, cancellation)) continue;
            string destination = prefix + Path.GetFileName(file);
            await storage.MoveAsync(file, destination, cancellation);
            moved.Add(file);
        }
        await storage.WriteJsonAsync(prefix + "reason.json", new { name, reason, files = moved, quarantinedUtc = DateTime.UtcNow }, cancellation);
        return prefix;
    }
}
