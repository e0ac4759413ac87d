using System.IO.Compression;
using System.Text.Json;
using GuidedNet.GpuJob.Cli;
using GuidedNet.Inference;
using GuidedNet.Models;
using GuidedNet.Imaging.Nifti;
using GuidedNet.TestSupport;

namespace GuidedNet.Tests;

/// <summary>Keep-largest-component post-processing: what it removes, when validation chooses it, and that predict applies the model's choice.</summary>
public sealed class PostProcessingTests
{
    // A 1x6x10 slice: class 1 is a 2x4 block and a 1-voxel island, class 2 two 1-voxel islands.
    private static float[] Islands()
    {
        var labels = new float[60];
        for (int y = 1; y <= 2; y++) for (int x = 1; x <= 4; x++) labels[y * 10 + x] = 1;
        labels[4 * 10 + 8] = 1;
        labels[5 * 10 + 0] = 2;
        labels[0 * 10 + 9] = 2;
        return labels;
    }

    [Fact]
    public void Only_the_listed_classes_lose_their_islands()
    {
        var labels = Islands();
        Assert.Equal(1, LargestComponentPostProcessing.Apply(labels, 1, 6, 10, [1]));
        Assert.Equal(0, labels[48]);
        Assert.Equal(8, labels.Count(v => v == 1));
        Assert.Equal(2, labels.Count(v => v == 2));
        // Two equal islands: the first found (lowest index) is kept.
        Assert.Equal(1, LargestComponentPostProcessing.Apply(labels, 1, 6, 10, [2]));
        Assert.Equal(2, labels[9]);
        Assert.Equal(0, labels[50]);
        // Diagonal neighbours are not connected (6-connectivity, as nnU-Net's scipy default).
        var diagonal = new float[4] { 1, 0, 0, 1 };
        Assert.Equal(1, LargestComponentPostProcessing.Apply(diagonal, 1, 2, 2, [1]));
    }

    [Fact]
    public void Validation_chooses_a_class_whose_islands_are_false_positives_on_enough_cases_and_not_one_whose_truth_has_two_parts_or_that_nothing_changes()
    {
        var predicted = Islands().Select(v => (byte)v).ToArray();
        // Truth: class 1 is the block alone (the island is a false positive); class 2 really is two islands.
        var truth = predicted.ToArray();
        truth[48] = 0;
        var evidence = new LargestComponentPostProcessing.ValidationCase(predicted, truth, 1, 6, 10);
        Assert.Equal(new[] { 1 }, LargestComponentPostProcessing.Decide(Enumerable.Repeat(evidence, LargestComponentPostProcessing.MinimumEvidenceCases).ToList(), 3));
        // The same gain on fewer validation cases than that is not evidence enough.
        Assert.Empty(LargestComponentPostProcessing.Decide(Enumerable.Repeat(evidence, LargestComponentPostProcessing.MinimumEvidenceCases - 1).ToList(), 3));
        // Nothing to gain (one component each, or no evidence): nothing chosen.
        Assert.DoesNotContain(1, LargestComponentPostProcessing.Decide([new(truth, truth, 1, 6, 10), new(new byte[60], new byte[60], 1, 6, 10)], 3));
    }

    [Fact]
    public void A_trained_model_records_its_choice_and_predict_applies_it_unless_told_not_to()
    {
        using var tmp = new TempFolder();
        var output = new StringWriter();
        Assert.Equal(0, GuidedNetCli.Run(["synth", "--out", tmp.File("ds"), "--cases", "4", "--test", "1", "--classes", "3", "--size", "32,32,16", "--seed", "3"], output, output));
        Assert.Equal(0, GuidedNetCli.Run(["train", "--dataset", tmp.File("ds"), "--out", tmp.File("model"), "--mode", "supervised", "--iterations", "4",
            "--patch", "16,16,16", "--batch", "2", "--labeled-batch", "2", "--base-channels", "2", "--val-cases", "phantom_003", "--validate-every", "2",
            "--device", "cpu", ReproducibleCpuKernels.Flag], output, output));
        string model = tmp.File("model/model.guidednet");
        using (var history = JsonDocument.Parse(File.ReadAllText(tmp.File("model/training.json"))))
        {
            var recorded = history.RootElement.GetProperty("history").GetProperty("keepLargestComponent").EnumerateArray().Select(e => e.GetString()).ToList();
            var metadata = ModelFile.ReadMetadata(model);
            Assert.Equal(recorded, (metadata.KeepLargestComponent ?? []).Select(k => metadata.ClassNames![k]));
        }

        // Make the choice "every class", then predict the test case with and without it.
        using (var zip = ZipFile.Open(model, ZipArchiveMode.Update))
        {
            var entry = zip.GetEntry("model.json")!;
            ModelMetadata metadata;
            using (var reader = new StreamReader(entry.Open()))
                metadata = JsonSerializer.Deserialize<ModelMetadata>(reader.ReadToEnd(), ModelMetadata.Json)!;
            entry.Delete();
            using var writer = new StreamWriter(zip.CreateEntry("model.json").Open());
            writer.Write(JsonSerializer.Serialize(metadata with { KeepLargestComponent = [1, 2] }, ModelMetadata.Json));
        }
        foreach (string mode in new[] { "with", "without" })
        {
            string[] args = ["predict", "--model", model, "--input", tmp.File("ds/imagesTs"), "--output", tmp.File(mode), "--device", "cpu", ReproducibleCpuKernels.Flag];
            Assert.Equal(0, GuidedNetCli.Run(mode == "with" ? args : [.. args, "--no-postprocessing"], output, output));
        }
        var with = NiftiReader.Read(tmp.File("with/phantom_ts000.nii.gz"));
        var without = NiftiReader.Read(tmp.File("without/phantom_ts000.nii.gz"));
        var again = with.Voxels.ToArray();
        Assert.Equal(0, LargestComponentPostProcessing.Apply(again, with.SizeZ, with.SizeY, with.SizeX, [1, 2]));
        var raw = without.Voxels.ToArray();
        long removed = LargestComponentPostProcessing.Apply(raw, without.SizeZ, without.SizeY, without.SizeX, [1, 2]);
        Assert.True(removed > 0, "the barely trained model's mask should have islands: " + output);
        Assert.Equal(raw, with.Voxels);
    }
}
