using GuidedNet.Data;
using GuidedNet.Imaging;
using GuidedNet.Imaging.Geometry;
using GuidedNet.Imaging.Nifti;
using GuidedNet.TestSupport;
using GuidedNet.Training;

namespace GuidedNet.Tests;

/// <summary>Training cases read patch by patch from the preprocessing cache (only the rows a patch needs): the same batches as from memory, and a damaged cache refused by name.</summary>
public sealed class CachedCaseTests
{
    private const int D = 20, H = 28, W = 36;

    /// <summary>A textured image and labels of three classes (a block and a thin slab), written as the cache writes them.</summary>
    private static (TrainingCase InMemory, TrainingCase Cached) Case(TempFolder tmp, string name)
    {
        var image = new float[D * H * W];
        var labels = new byte[D * H * W];
        for (int z = 0; z < D; z++)
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++)
                {
                    int i = (z * H + y) * W + x;
                    image[i] = (float)Math.Sin(0.37 * i) + 0.01f * z;
                    labels[i] = (byte)(z is >= 4 and < 12 && y is >= 6 and < 20 && x is >= 10 and < 30 ? 1 : x == 5 ? 2 : 0);
                }
        string imageFile = tmp.File(name + ".nii"), labelFile = tmp.File(name + "_seg.nii");
        NiftiWriter.Write(imageFile, new Volume(W, H, D, image, Affine.Identity), NiftiDataType.Float32);
        NiftiWriter.Write(labelFile, new Volume(W, H, D, labels.Select(v => (float)v).ToArray(), Affine.Identity), NiftiDataType.UInt8);
        return (new TrainingCase(name, D, H, W, image, labels), TrainingCase.Cached(name, imageFile, labelFile));
    }

    [Fact]
    public void A_cached_case_gives_the_batches_its_in_memory_copy_gives_with_either_augmentation()
    {
        using var tmp = new TempFolder();
        var (memoryA, cachedA) = Case(tmp, "a");
        var (memoryB, cachedB) = Case(tmp, "b");
        Assert.True(cachedA.IsCached);
        Assert.False(memoryA.IsCached);
        Assert.Equal((D, H, W), (cachedA.Depth, cachedA.Height, cachedA.Width));
        Assert.Equal(memoryA.ReadLabels(), cachedA.ReadLabels());
        Assert.False(cachedB.WithoutLabels().HasLabels);

        // Patches inside the case, and larger than it along z and y (padding).
        foreach (var patch in new[] { new[] { 16, 24, 24 }, new[] { 24, 32, 24 } })
        foreach (var augmentation in new[] { AugmentationOptions.Reference, AugmentationOptions.NnUNet, AugmentationOptions.NnUNet with { ElasticProbability = 1 } })
        {
            var fromMemory = new PatchSampler([memoryA], [memoryB.WithoutLabels()], patch, 2, 2, seed: 5, foregroundFraction: 0.5, augmentation);
            var fromCache = new PatchSampler([cachedA], [cachedB.WithoutLabels()], patch, 2, 2, seed: 5, foregroundFraction: 0.5, augmentation);
            for (int iteration = 0; iteration < 6; iteration++)
            {
                var expected = fromMemory.Sample(iteration);
                var actual = fromCache.Sample(iteration);
                Assert.Equal(expected.Images, actual.Images);
                Assert.Equal(expected.Labels, actual.Labels);
                Assert.Contains(actual.Labels, l => l != 0);
            }
        }
    }

    [Fact]
    public void A_damaged_cache_file_is_refused_by_name_before_training()
    {
        using var tmp = new TempFolder();
        Case(tmp, "ok");
        string image = tmp.File("ok.nii"), labels = tmp.File("ok_seg.nii");

        // Cut short (a write that stopped): refused with the sizes, not a fault when a patch reaches the end.
        string truncated = tmp.File("cut.nii");
        File.WriteAllBytes(truncated, File.ReadAllBytes(image)[..^100]);
        var cut = Assert.Throws<NiftiFormatException>(() => TrainingCase.Cached("cut", truncated, null));
        Assert.Contains(truncated, cut.Message);
        Assert.Contains("truncated", cut.Message);

        // The wrong type in either place, a gzipped file, labels of another grid.
        Assert.Contains("holds UInt8, not the Float32 expected", Assert.Throws<NiftiFormatException>(() => TrainingCase.Cached("t", labels, null)).Message);
        Assert.Contains("holds Float32, not the UInt8 expected", Assert.Throws<NiftiFormatException>(() => TrainingCase.Cached("t", image, image)).Message);
        string gz = tmp.File("ok.nii.gz");
        NiftiWriter.Write(gz, NiftiReader.Read(image), NiftiDataType.Float32);
        Assert.Contains("gzipped", Assert.Throws<NiftiFormatException>(() => TrainingCase.Cached("t", gz, null)).Message);
        string small = tmp.File("small_seg.nii");
        NiftiWriter.Write(small, new Volume(W, H, D - 1, new float[W * H * (D - 1)], Affine.Identity), NiftiDataType.UInt8);
        var grid = Assert.Throws<NiftiFormatException>(() => TrainingCase.Cached("t", image, small));
        Assert.Contains(small, grid.Message);
        Assert.Contains($"{W}x{H}x{D - 1}", grid.Message);
    }
}
