using System.Text.Json;
using GuidedNet.Data;
using GuidedNet.Imaging;
using GuidedNet.Imaging.Geometry;
using GuidedNet.Imaging.Nifti;
using GuidedNet.Imaging.Preprocessing;
using GuidedNet.Inference;
using GuidedNet.Models;
using GuidedNet.Network;
using GuidedNet.TestSupport;
using GuidedNet.Training;
using static TorchSharp.torch;

namespace GuidedNet.Tests;

[Collection(GlobalRandomCollection.Name)]
public class NormalizationAndEnsembleTests
{
    /// <summary>
    /// An MR-like dataset: a bright ellipsoid with a dark core on a zero background, each case the
    /// same anatomy at another intensity scale (1×, 1.6×, 0.8×, 1.3×), as scanners and subjects differ.
    /// </summary>
    private static string MrLikeDataset(TempFolder tmp, string modality)
    {
        string folder = tmp.File("mr-" + modality);
        foreach (string sub in new[] { "imagesTr", "labelsTr" }) Directory.CreateDirectory(Path.Combine(folder, sub));
        double[] scales = { 1.0, 1.6, 0.8, 1.3 };
        const int n = 32;
        for (int c = 0; c < scales.Length; c++)
        {
            var image = new float[n * n * n];
            var label = new float[n * n * n];
            for (int z = 0; z < n; z++)
                for (int y = 0; y < n; y++)
                    for (int x = 0; x < n; x++)
                    {
                        double r = Math.Sqrt(Math.Pow((x - 16) / 12.0, 2) + Math.Pow((y - 16) / 10.0, 2) + Math.Pow((z - 16) / 8.0, 2));
                        if (r > 1) continue;
                        int i = (z * n + y) * n + x;
                        bool core = r < 0.4;
                        image[i] = (float)(scales[c] * (core ? 300 : 800 + 100 * x / (double)n));
                        label[i] = core ? 1 : 0;
                    }
            var affine = Affine.Identity;
            NiftiWriter.Write(Path.Combine(folder, "imagesTr", $"s{c}_0000.nii.gz"), new Volume(n, n, n, image, affine), NiftiDataType.Float32);
            NiftiWriter.Write(Path.Combine(folder, "labelsTr", $"s{c}.nii.gz"), new Volume(n, n, n, label, affine), NiftiDataType.UInt8);
        }
        File.WriteAllText(Path.Combine(folder, "dataset.json"), JsonSerializer.Serialize(new
        {
            channel_names = new Dictionary<string, string> { ["0"] = modality },
            labels = new Dictionary<string, int> { ["background"] = 0, ["core"] = 1 },
        }));
        return folder;
    }

    private static TrainingOptions Options => new() { ValidationFraction = 0, Patch = new[] { 16, 16, 16 }, BatchSize = 2, LabeledBatchSize = 1 };

    [Fact]
    public void Channels_that_are_not_CT_are_z_scored_per_case_so_intensity_scale_does_not_matter()
    {
        using var tmp = new TempFolder();
        var mr = TrainingData.Prepare(MsdDataset.Open(MrLikeDataset(tmp, "T1")), Options, tmp.File("cache"));
        Assert.Equal("zscore-nonzero", mr.Plan.NormalizationScheme); // the ellipsoid fills well under ¾ of the field of view
        Assert.Null(mr.Plan.Normalization);
        var first = mr.Labeled[0].ReadImage();
        foreach (var other in mr.Labeled.Skip(1).Select(c => c.ReadImage()))
            for (int i = 0; i < first.Length; i++) Assert.Equal(first[i], other[i], 4);
        var inside = first.Where(v => v != 0).ToArray();
        Assert.Equal(0, inside.Average(), 4);
        Assert.Equal(1, Math.Sqrt(inside.Average(v => (double)v * v)), 3);
        Assert.Equal(first.Length - inside.Length, first.Count(v => v == 0)); // the background stays zero

        // The plan travels in the plan cache's JSON and in the model file, so prediction normalises the same way.
        var json = TrainingData.PlanJson(mr.Plan);
        Assert.Equal("zscore-nonzero", TrainingData.PlanFromJson(json).NormalizationScheme);

        // CT keeps dataset-wide statistics: the same scans then differ after normalisation.
        var ct = TrainingData.Prepare(MsdDataset.Open(MrLikeDataset(tmp, "CT")), Options, tmp.File("cache"));
        Assert.Equal("ct", ct.Plan.NormalizationScheme);
        Assert.NotNull(ct.Plan.Normalization);
        int centre = (16 * 32 + 16) * 32 + 16; // in the core, 300 × the case's scale
        float a = ct.Labeled[0].ReadImage()[centre], b = ct.Labeled[1].ReadImage()[centre];
        Assert.True(Math.Abs(a - b) > 0.5, $"{a} vs {b}");

        // Forced by the option, whatever the modality says.
        var forced = TrainingData.Prepare(MsdDataset.Open(MrLikeDataset(tmp, "CT")), Options with { Normalization = "zscore" }, tmp.File("cache"));
        Assert.Equal("zscore", forced.Plan.NormalizationScheme);
    }

    [Fact]
    public void Per_case_normalisation_is_written_into_the_model_and_refused_when_inconsistent()
    {
        using var tmp = new TempFolder();
        using var network = new UNet3D(3, 4);
        string path = tmp.File("m.guidednet");
        ModelFile.Save(path, new ModelMetadata { NumClasses = 3, BaseChannels = 4, Preset = "auto", NormalizationScheme = "zscore-nonzero", Patch = new[] { 16, 16, 16 } }, network);
        using (var model = ModelFile.Load(path, CPU))
        {
            Assert.Equal(new PerCaseNormalization(true), model.Plan().PerCaseNormalization);
            var scan = new Volume(4, 4, 4, Enumerable.Range(0, 64).Select(i => i % 2 == 0 ? 0f : 5f + i).ToArray(), Affine.Identity);
            var prepared = new CasePreprocessor(model.Plan()).Prepare(scan).Image.Voxels;
            Assert.Equal(0, prepared.Where((_, i) => i % 2 == 1).Average(), 4);
            Assert.All(prepared.Where((_, i) => i % 2 == 0), v => Assert.Equal(0f, v));
        }
        var bad = new ModelMetadata { NumClasses = 3, NormalizationScheme = "zscore", Normalization = new[] { -1.0, 1, 0, 1 } };
        Assert.Contains("normalizationScheme", Assert.Throws<InvalidDataException>(() => bad.Validate("x")).Message);
        Assert.Contains("normalizationScheme", Assert.Throws<InvalidDataException>(() => (bad with { Normalization = null, NormalizationScheme = "minmax" }).Validate("x")).Message);
    }

    [Fact]
    public void The_ensemble_averages_both_networks_probabilities_and_the_preferred_network_predicts_alone()
    {
        using var tmp = new TempFolder();
        manual_seed(3);
        using var first = new UNet3D(3, 4);
        using var second = new UNet3D(3, 4);
        string path = tmp.File("pair.guidednet");
        ModelFile.Save(path, new ModelMetadata { NumClasses = 3, BaseChannels = 4, Patch = new[] { 16, 16, 16 }, PreferredNetwork = 2 }, first, second);

        var generator = new Random(4);
        var volume = Enumerable.Range(0, 20 * 24 * 24).Select(_ => (float)generator.NextDouble()).ToArray();
        var windows = new SlidingWindowOptions { Patch = new[] { 16, 16, 16 }, Overlap = 0.5 };
        float[] Scores(params UNet3D[] networks) => new SlidingWindowPredictor(networks, CPU, windows).Predict(volume, 20, 24, 24, keepScores: true).Scores!;
        var a = Scores(first);
        var b = Scores(second);
        var both = Scores(first, second);
        for (int i = 0; i < both.Length; i++) Assert.Equal((a[i] + b[i]) / 2, both[i], 1e-5f);
        Assert.True(a.Zip(b).Max(p => Math.Abs(p.First - p.Second)) > 1e-3, "the two networks should differ");

        using (var alone = ModelFile.Load(path, CPU))
        {
            Assert.Single(alone.Networks);
            Assert.Equal(b, new SlidingWindowPredictor(alone.Network, CPU, windows).Predict(volume, 20, 24, 24, keepScores: true).Scores!);
        }
        using (var ensemble = ModelFile.Load(path, CPU, ensemble: true))
        {
            Assert.Equal(2, ensemble.Networks.Count);
            var scores = new SlidingWindowPredictor(ensemble.Networks, CPU, windows).Predict(volume, 20, 24, 24, keepScores: true).Scores!;
            Assert.Equal(both, scores); // the same networks in the same order: the same numbers
        }

        string single = tmp.File("single.guidednet");
        ModelFile.Save(single, new ModelMetadata { NumClasses = 3, BaseChannels = 4, Patch = new[] { 16, 16, 16 } }, first);
        var error = Assert.Throws<InvalidDataException>(() => ModelFile.Load(single, CPU, ensemble: true));
        Assert.StartsWith(single, error.Message);
        Assert.Contains("two networks", error.Message);
        var wrongPreference = new ModelMetadata { NumClasses = 3, PreferredNetwork = 2 };
        Assert.Contains("preferredNetwork", Assert.Throws<InvalidDataException>(() => wrongPreference.Validate("x")).Message);
    }
}
