using GuidedNet.Imaging;
using GuidedNet.Imaging.Nifti;
using GuidedNet.Pipeline.Contracts;
using GuidedNet.Pipeline.Storage;

namespace GuidedNet.Pipeline.Datasets;

/// <summary>A manifest's cases as a local MSD folder (dataset.json, imagesTr/, labelsTr/), exactly the bytes the manifest pins.</summary>
public static class ManifestFiles
{
    /// <exception cref="PinnedBlobChangedException">a case changed or was removed since it was validated (the message names the case)</exception>
    public static async Task DownloadAsync(PipelineStorage storage, DatasetManifest manifest, string folder, CancellationToken cancellation = default)
    {
        string validated = $"it was validated for {manifest.Version}";
        await storage.DownloadPinnedAsync(manifest.DatasetJson, Path.Combine(folder, "dataset.json"), validated, cancellation);
        await Parallel.ForEachAsync(manifest.Cases, new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = cancellation }, async (c, ct) =>
        {
            try
            {
                // A file already here came from an earlier attempt of this job: same manifest, same pins.
                string image = Path.Combine(folder, "imagesTr", c.Name + "_0000" + ScanFileNames.Extension(c.Image.Path));
                if (!File.Exists(image)) await storage.DownloadPinnedAsync(c.Image, image, validated, ct);
                if (c.Label is null) return;
                string label = Path.Combine(folder, "labelsTr", c.Name + ScanFileNames.Extension(c.Label.Path));
                if (!File.Exists(label)) await storage.DownloadPinnedAsync(c.Label, label, validated, ct);
            }
            catch (PinnedBlobChangedException e)
            {
                throw new PinnedBlobChangedException($"case '{c.Name}' of {BlobLayout.Manifest(manifest.Dataset, manifest.Version)}: {e.Message}; start a new training run to validate it again");
            }
        });
    }

}
