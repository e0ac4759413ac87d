using System.Text.Json;
using GuidedNet.Imaging;
using GuidedNet.Imaging.Geometry;
using GuidedNet.Imaging.Nifti;
using GuidedNet.Pipeline.Contracts;
using GuidedNet.Pipeline.Orchestrations;
using GuidedNet.Pipeline.Storage;
using GuidedNet.Pipeline.Tests.Infrastructure;

namespace GuidedNet.Pipeline.Tests;

/// <summary>
/// (5) Bad inputs never stop a batch: each is moved to quarantine/ with a reason.json naming its
/// file and the problem, and the good cases go on to train; a bad dropped scan is quarantined too.
/// </summary>
[Collection(PipelineCollection.Name)]
public sealed class BadInputTests
{
    [Fact]
    public async Task Each_bad_case_is_quarantined_with_its_reason_while_the_rest_trains()
    {
        await using var pipeline = new PipelineHarness("bad");
        const string dataset = "mixed";
        await pipeline.UploadDatasetAsync(dataset, cases: 5, labeled: 3, seed: 21);
        using var temp = new Storage.TempFolder();
        var affine = Affine.Scaling(4, 4, 6);
        Volume Box(int x, int y, int z, Func<int, float> value) =>
            new(x, y, z, Enumerable.Range(0, x * y * z).Select(value).ToArray(), affine);
        async Task Put(string blob, Volume volume, NiftiDataType type)
        {
            string file = temp.File(Guid.NewGuid().ToString("N") + ".nii.gz");
            NiftiWriter.Write(file, volume, type);
            await pipeline.Storage.UploadFileAsync($"datasets/{dataset}/{blob}", file);
        }

        string prefix = $"datasets/{dataset}/";
        await pipeline.Storage.WriteBytesAsync(prefix + "imagesTr/notes.txt", "not an image"u8.ToArray());
        string good = temp.File("good.nii.gz");
        NiftiWriter.Write(good, Box(40, 40, 20, i => i % 7), NiftiDataType.Int16);
        var bytes = File.ReadAllBytes(good);
        await pipeline.Storage.WriteBytesAsync(prefix + "imagesTr/truncated_0000.nii.gz", bytes[..(bytes.Length / 2)]);
        await Put("imagesTr/flat_0000.nii.gz", Box(40, 40, 1, i => i % 5), NiftiDataType.Int16);
        await Put("imagesTr/mismatch_0000.nii.gz", Box(40, 40, 20, i => i % 5), NiftiDataType.Int16);
        await Put("labelsTr/mismatch.nii.gz", Box(40, 40, 18, _ => 0), NiftiDataType.UInt8);
        await Put("imagesTr/beyond_0000.nii.gz", Box(40, 40, 20, i => i % 5), NiftiDataType.Int16);
        await Put("labelsTr/beyond.nii.gz", Box(40, 40, 20, i => i == 100 ? 9 : 0), NiftiDataType.UInt8);
        await Put("imagesTr/nanvox_0000.nii.gz", Box(40, 40, 20, i => i % 97 == 0 ? float.NaN : i % 5), NiftiDataType.Float32);

        await pipeline.StartHostAsync(withWorker: true);
        string id = await pipeline.StartTrainingAsync(dataset, PipelineHarness.TinyTraining(iterations: 10));
        var run = await pipeline.WaitForRunAsync(id, TimeSpan.FromMinutes(3));
        Assert.True(run.GetProperty("state").GetString() == "Completed", run.ToString());
        Assert.Equal(5, run.GetProperty("output").GetProperty("cases").GetInt32());
        Assert.Equal(6, run.GetProperty("output").GetProperty("quarantined").GetInt32());

        string version = run.GetProperty("output").GetProperty("version").GetString()!;
        var expected = new Dictionary<string, string[]>
        {
            ["notes.txt"] = new[] { prefix + "imagesTr/notes.txt", "not a scan file name" },
            ["truncated"] = new[] { prefix + "imagesTr/truncated_0000.nii.gz", "truncated" },
            ["flat"] = new[] { prefix + "imagesTr/flat_0000.nii.gz", "not a 3D volume" },
            ["mismatch"] = new[] { prefix + "labelsTr/mismatch.nii.gz", "40x40x18", "40x40x20" },
            ["beyond"] = new[] { prefix + "labelsTr/beyond.nii.gz", "label value 9", "4 classes" },
            ["nanvox"] = new[] { prefix + "imagesTr/nanvox_0000.nii.gz", "NaN" },
        };
        foreach (var (name, fragments) in expected)
        {
            string reasonPath = Quarantine.RecordPath("datasets/" + dataset, name, version);
            var reason = await pipeline.Storage.ReadBytesAsync(reasonPath, 1 << 16);
            string text = JsonDocument.Parse(reason).RootElement.GetProperty("reason").GetString()!;
            foreach (string fragment in fragments) Assert.True(text.Contains(fragment, StringComparison.OrdinalIgnoreCase), $"{name}: '{text}' lacks '{fragment}'");
        }
        // Moved, not lost: the bad files are in the quarantine and no longer in the dataset.
        Assert.True(await pipeline.Storage.ExistsAsync(BlobLayout.QuarantinePrefix("datasets/" + dataset, "beyond", version) + "imagesTr/beyond_0000.nii.gz"));
        Assert.True(await pipeline.Storage.ExistsAsync(BlobLayout.QuarantinePrefix("datasets/" + dataset, "beyond", version) + "labelsTr/beyond.nii.gz"));
        Assert.False(await pipeline.Storage.ExistsAsync(prefix + "imagesTr/nanvox_0000.nii.gz"));
        var manifest = await pipeline.Storage.ReadJsonAsync<DatasetManifest>(BlobLayout.Manifest(dataset, version));
        Assert.Equal(6, manifest!.Quarantined.Count);
        Assert.DoesNotContain(manifest.Cases, c => expected.ContainsKey(c.Name));

        // A dropped file that is not a scan is quarantined by its run.
        byte[] photo = "JPEG?"u8.ToArray();
        await pipeline.Storage.WriteBytesAsync(BlobLayout.IncomingScan(dataset, "photo.nii.gz"), photo);
        string photoKey = Convert.ToHexString(System.Security.Cryptography.MD5.HashData(photo)).ToLowerInvariant()[..16];
        string dropReason = Quarantine.RecordPath("scans/" + dataset, "photo", photoKey);
        var dropped = await pipeline.WaitForAsync(async () => await pipeline.Storage.ExistsAsync(dropReason) ? await pipeline.Storage.ReadBytesAsync(dropReason, 1 << 16) : null,
            TimeSpan.FromMinutes(1), "the dropped file's quarantine");
        Assert.Contains("incoming/mixed/photo.nii.gz", JsonDocument.Parse(dropped).RootElement.GetProperty("reason").GetString());
        Assert.False(await pipeline.Storage.ExistsAsync(BlobLayout.IncomingScan(dataset, "photo.nii.gz")));
    }
}
