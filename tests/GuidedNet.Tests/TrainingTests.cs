using System.Text.Json;
using GuidedNet.Data;
using GuidedNet.GpuJob.Cli;
using GuidedNet.Imaging.Nifti;
using GuidedNet.Imaging.Synthetic;
using GuidedNet.TestSupport;
using GuidedNet.Training;
using static TorchSharp.torch;

namespace GuidedNet.Tests;

/// <summary>A tiny synthetic dataset shared by the training tests (written once per test class).</summary>
public sealed class PhantomDatasetFixture : IDisposable
{
    public PhantomDatasetFixture()
    {
        new PhantomGenerator(new PhantomOptions { Classes = 4, Size = (40, 40, 20) }).WriteDataset(Folder.File("ds"), 8, 6, 2, seed: 3);
    }

    public TempFolder Folder { get; } = new();
    public string Dataset => Folder.File("ds");

    public void Dispose() => Folder.Dispose();
}

[Collection(GlobalRandomCollection.Name)]
public class TrainingTests(PhantomDatasetFixture fixture) : IClassFixture<PhantomDatasetFixture>
{
    private static TrainingOptions Tiny(TrainingMode mode = TrainingMode.GuidedNet) => new()
    {
        Mode = mode, Iterations = 6, Patch = new[] { 16, 32, 32 }, BatchSize = mode == TrainingMode.Supervised ? 2 : 4, LabeledBatchSize = 2,
        BaseChannels = 4, LabeledCases = 3, ValidationFraction = 0.3, ValidateEvery = 3, CheckpointEvery = 3, Seed = 7,
    };

    [Fact]
    public void Split_is_deterministic_and_never_trains_on_validation_cases()
    {
        var dataset = MsdDataset.Open(fixture.Dataset);
        var a = DatasetSplit.Create(dataset, Tiny());
        var b = DatasetSplit.Create(dataset, Tiny());
        Assert.Equal(a.Labeled.Select(c => c.Name), b.Labeled.Select(c => c.Name));
        Assert.Equal(3, a.Labeled.Count);
        Assert.Equal(2, a.Validation.Count); // round(0.3 * 6)
        Assert.Empty(a.Validation.Select(c => c.Name).Intersect(a.Labeled.Concat(a.Unlabeled).Select(c => c.Name)));
        // 6 labeled − 2 validation − 3 kept = 1 hidden, plus 2 never labeled.
        Assert.Equal(3, a.Unlabeled.Count);
        Assert.All(a.Unlabeled, c => Assert.Null(c.LabelPath));
        var fraction = DatasetSplit.Create(dataset, Tiny() with { LabeledCases = null, LabeledFraction = 0.5 });
        Assert.Equal(3, fraction.Labeled.Count); // round(0.5 * (4 + 2))
    }

    [Fact]
    public void Plan_is_computed_once_and_reused_from_the_cache()
    {
        var dataset = MsdDataset.Open(fixture.Dataset);
        string cache = fixture.Folder.File("plan-cache");
        var first = TrainingData.Prepare(dataset, Tiny(), cache);
        var plans = Directory.GetFiles(Path.Combine(cache, "plans"), "*.json");
        Assert.Single(plans);
        // A cached plan is what planning produced, including the statistics from the labeled foreground.
        string json = TrainingData.PlanJson(first.Plan);
        Assert.Equal(json, File.ReadAllText(plans[0]));
        Assert.Equal(json, TrainingData.PlanJson(TrainingData.PlanFromJson(json)));
        Assert.NotNull(first.Plan.Normalization);
        var second = TrainingData.Prepare(dataset, Tiny(), cache);
        Assert.Equal(json, TrainingData.PlanJson(second.Plan));
        Assert.Equal(first.Labeled[0].ReadImage(), second.Labeled[0].ReadImage());
        // Training reads every case from the cache, patch by patch: none is held in memory.
        Assert.All(first.Labeled.Concat(first.Unlabeled).Concat(first.Validation), c => Assert.True(c.IsCached, c.Name));
        // Another split is another plan.
        TrainingData.Prepare(dataset, Tiny() with { LabeledCases = 2 }, cache);
        Assert.Equal(2, Directory.GetFiles(Path.Combine(cache, "plans"), "*.json").Length);
    }

    [Fact]
    public void Sampler_keeps_images_and_labels_aligned_pads_small_volumes_and_repeats_per_iteration()
    {
        // Image value = label value, so any misalignment between the two would show.
        int d = 10, h = 20, w = 12;
        var labels = Enumerable.Range(0, d * h * w).Select(i => (byte)(i % 7)).ToArray();
        var c = new TrainingCase("c", d, h, w, labels.Select(v => (float)v).ToArray(), labels);
        var sampler = new PatchSampler(new[] { c }, new[] { c.WithoutLabels() }, new[] { 16, 16, 16 }, 1, 1, seed: 5);
        for (int it = 0; it < 20; it++)
        {
            var batch = sampler.Sample(it);
            long n = 16 * 16 * 16;
            for (long i = 0; i < n; i++) Assert.Equal(batch.Labels[i], (long)batch.Images[i]);
            // Depth 10 < 16: at least 6 padded slices of zeros in every labeled sample.
            Assert.True(batch.Images.Take((int)n).Count(v => v == 0) >= 6 * 16 * 16 * 0.9);
            Assert.All(batch.Labels.Skip((int)n), l => Assert.Equal(0, l)); // unlabeled sample: no labels
            Assert.Equal(batch.Images, sampler.Sample(it).Images);
        }
        Assert.NotEqual(sampler.Sample(0).Images, sampler.Sample(1).Images);
    }

    [Fact]
    public void Foreground_oversampling_centres_patches_on_each_present_class_equally_often_and_leaves_the_uniform_sampler_unchanged()
    {
        // 32×96×96: class 1 fills a large block, class 2 is a 2×2×2 cube far from it, class 3 is absent.
        // Image value = label value, so alignment shows; the patch centre's label says which class a patch was centred on.
        int d = 32, h = 96, w = 96;
        var labels = new byte[d * h * w];
        for (int z = 0; z < d; z++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    labels[(z * h + y) * w + x] = (byte)(y < 40 && x < 40 ? 1 : z is 16 or 17 && y is 70 or 71 && x is 60 or 61 ? 2 : 0);
        var c = new TrainingCase("c", d, h, w, labels.Select(v => (float)v).ToArray(), labels);
        int[] patch = { 16, 16, 16 };
        int patchVoxels = 16 * 16 * 16, centre = (8 * 16 + 8) * 16 + 8;
        const int iterations = 3000;
        var centred = new int[4];
        int withSmall = 0;
        var sampler = new PatchSampler([c], [c.WithoutLabels()], patch, 1, 1, seed: 11, foregroundFraction: 1.0 / 3);
        for (int it = 0; it < iterations; it++)
        {
            var batch = sampler.Sample(it);
            for (int i = 0; i < patchVoxels; i++) Assert.Equal(batch.Labels[i], (long)batch.Images[i]);
            centred[batch.Labels[centre]]++;
            if (batch.Labels.Take(patchVoxels).Contains(2)) withSmall++;
            Assert.Equal(batch.Labels, sampler.Sample(it).Labels); // a function of (seed, iteration): resume holds
        }
        // A third of the patches are forced, half of those onto each present class: 1/6 centred on the 8-voxel cube.
        Assert.InRange(centred[2] / (double)iterations, 1.0 / 6 - 0.03, 1.0 / 6 + 0.03);
        Assert.Equal(0, centred[3]);
        Assert.InRange(withSmall / (double)iterations, 0.15, 0.25);

        // Without oversampling the cube is almost never seen, and the batches are exactly the uniform sampler's.
        var uniform = new PatchSampler([c], [c.WithoutLabels()], patch, 1, 1, seed: 11);
        var zero = new PatchSampler([c], [c.WithoutLabels()], patch, 1, 1, seed: 11, foregroundFraction: 0);
        int uniformSmall = 0;
        for (int it = 0; it < iterations; it++)
        {
            var batch = uniform.Sample(it);
            Assert.Equal(batch.Images, zero.Sample(it).Images);
            if (batch.Labels.Take(patchVoxels).Contains(2)) uniformSmall++;
        }
        Assert.True(uniformSmall < withSmall / 3, $"{uniformSmall} uniform patches hold the cube, {withSmall} oversampled ones");
    }

    [Fact]
    public void A_validation_tie_keeps_the_later_checkpoint_and_no_dice_never_replaces_a_best()
    {
        var history = new TrainingHistory();
        Assert.False(history.Record(new ValidationRecord(100, null, new())));
        Assert.True(history.Record(new ValidationRecord(200, 0.0, new())));
        Assert.True(history.Record(new ValidationRecord(300, 0.0, new()))); // collapsed runs used to keep the first model
        Assert.Equal((300, 0.0), (history.BestIteration, history.BestMeanDice!.Value));
        Assert.True(history.Record(new ValidationRecord(400, 0.5, new())));
        Assert.False(history.Record(new ValidationRecord(500, 0.4, new())));
        Assert.True(history.Record(new ValidationRecord(600, 0.5, new())));
        Assert.False(history.Record(new ValidationRecord(700, null, new())));
        Assert.Equal((600, 0.5), (history.BestIteration, history.BestMeanDice!.Value));
        Assert.Equal(7, history.Validations.Count);
    }

    [Fact]
    public void Resumed_run_reproduces_the_losses_of_an_uninterrupted_run()
    {
        var dataset = MsdDataset.Open(fixture.Dataset);
        var options = Tiny();
        var data = TrainingData.Prepare(dataset, options, fixture.Folder.File("cache"));

        string straight = fixture.Folder.File("straight");
        using (var trainer = new Trainer(options, data, CPU, straight, dataset.LabelNames))
            Assert.True(trainer.Run(resume: false).Completed);

        string interrupted = fixture.Folder.File("interrupted");
        using (var cancel = new CancellationTokenSource())
        using (var trainer = new Trainer(options, data, CPU, interrupted, dataset.LabelNames))
        {
            var stopAtThree = new Progress3(() => cancel.Cancel());
            var first = trainer.Run(resume: false, stopAtThree, cancel.Token);
            Assert.False(first.Completed);
            Assert.Equal(3, first.Iterations);
        }
        using (var trainer = new Trainer(options, data, CPU, interrupted, dataset.LabelNames))
            Assert.True(trainer.Run(resume: true).Completed);

        var a = Losses(straight);
        var b = Losses(interrupted);
        Assert.Equal(6, a.Count);
        Assert.Equal(6, b.Count);
        for (int i = 3; i < 6; i++)
            foreach (var (name, value) in a[i])
                Assert.True(Math.Abs(value - b[i][name]) <= 1e-6 * Math.Max(1, Math.Abs(value)),
                    $"iteration {i + 1} {name}: {value} uninterrupted vs {b[i][name]} resumed");
    }

    [Fact]
    public void Training_that_diverges_stops_naming_the_iteration_instead_of_going_on_with_NaN_networks()
    {
        var dataset = MsdDataset.Open(fixture.Dataset);
        var options = Tiny() with { BaseLearningRate = 1e30 };
        var data = TrainingData.Prepare(dataset, options, fixture.Folder.File("cache"));
        string folder = fixture.Folder.File("diverged");
        using var trainer = new Trainer(options, data, CPU, folder, dataset.LabelNames);
        var error = Assert.Throws<TrainingDivergedException>(() => trainer.Run(resume: false));
        Assert.Matches(@"^training diverged at iteration [1-6]: the gradients are not finite twice in a row \(loss terms: .*total", error.Message);
        Assert.False(File.Exists(Path.Combine(folder, Trainer.ModelFileName)));
    }

    [Fact]
    public void A_libtorch_error_inside_a_step_surfaces_as_an_exception_naming_the_iteration()
    {
        var dataset = MsdDataset.Open(fixture.Dataset);
        var options = Tiny(TrainingMode.Supervised) with { ValidationFraction = 0 };
        var prepared = TrainingData.Prepare(dataset, options, fixture.Folder.File("cache"));
        // In memory, so that the labels can be changed under the trainer.
        var labels = prepared.Labeled.Select(c => c.ReadLabels()).ToList();
        var data = TrainingData.FromCases(prepared.NumClasses,
            prepared.Labeled.Zip(labels, (c, l) => new TrainingCase(c.Name, c.Depth, c.Height, c.Width, c.ReadImage(), l)).ToList(),
            prepared.Unlabeled, prepared.Validation);
        string folder = fixture.Folder.File("step-error");
        using var trainer = new Trainer(options, data, CPU, folder, dataset.LabelNames);
        // Labels beyond the classes reach libtorch's cross-entropy, which refuses them natively (the
        // constructor refuses such data; here the arrays change after it checked them).
        foreach (var l in labels) Array.Fill(l, (byte)9);
        var error = Assert.Throws<TrainingStepException>(() => trainer.Run(resume: false));
        Assert.Equal(1, error.Iteration);
        Assert.StartsWith("training step 1 failed: ", error.Message);
        Assert.DoesNotContain("\n", error.Message);
        Assert.IsType<System.Runtime.InteropServices.ExternalException>(error.InnerException);

        var refused = Assert.Throws<ArgumentException>(() => new Trainer(options, data, CPU, fixture.Folder.File("step-error-2"), dataset.LabelNames));
        Assert.Contains("label 9 is beyond the 4 classes", refused.Message);
    }

    [Fact]
    public void Both_networks_are_validated_and_the_model_predicts_with_the_better_one()
    {
        var dataset = MsdDataset.Open(fixture.Dataset);
        var options = Tiny(TrainingMode.Cps) with { Iterations = 4, ValidateEvery = 2, CheckpointEvery = 4 };
        var data = TrainingData.Prepare(dataset, options, fixture.Folder.File("cache"));
        string folder = fixture.Folder.File("both-networks");
        using (var trainer = new Trainer(options, data, CPU, folder, dataset.LabelNames))
        {
            trainer.Run(resume: false);
            Assert.Equal(2, trainer.History.Validations.Count);
            foreach (var v in trainer.History.Validations)
            {
                Assert.Equal(2, v.MeanDiceByNetwork!.Length);
                var better = v.MeanDiceByNetwork[1] > v.MeanDiceByNetwork[0] ? 2 : 1;
                Assert.Equal(better, v.Network);
                Assert.Equal(v.MeanDiceByNetwork[v.Network - 1], v.MeanDice);
            }
            var metadata = Models.ModelFile.ReadMetadata(Path.Combine(folder, Trainer.ModelFileName));
            Assert.Equal(trainer.History.BestNetwork, metadata.PreferredNetwork);
            Assert.Equal(2, metadata.Networks);
        }
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "training.json")));
        Assert.Equal(2, doc.RootElement.GetProperty("history").GetProperty("validations")[0].GetProperty("meanDiceByNetwork").GetArrayLength());
        Assert.True(doc.RootElement.GetProperty("settings").GetProperty("augmentation").GetProperty("mirrorProbability").GetDouble() > 0);
    }

    /// <summary>
    /// The fixture's dataset with every label reduced to a 3×3×3 cube of class 1 in a corner: the
    /// other classes are absent everywhere, and almost no patch holds any foreground.
    /// </summary>
    private string CornerLabelDataset()
    {
        string folder = fixture.Folder.File("corner-" + Guid.NewGuid().ToString("N")[..6]);
        foreach (string file in Directory.EnumerateFiles(fixture.Dataset, "*", SearchOption.AllDirectories))
        {
            string target = Path.Combine(folder, Path.GetRelativePath(fixture.Dataset, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
        foreach (string label in Directory.EnumerateFiles(Path.Combine(folder, "labelsTr")))
        {
            var volume = NiftiReader.Read(label);
            var voxels = new float[volume.VoxelCount];
            for (int z = 0; z < 3; z++)
                for (int y = 0; y < 3; y++)
                    for (int x = 0; x < 3; x++)
                        voxels[((long)z * volume.SizeY + y) * volume.SizeX + x] = 1;
            NiftiWriter.Write(label, volume.WithVoxels(voxels), NiftiDataType.UInt8);
        }
        return folder;
    }

    [Theory]
    [InlineData(TrainingMode.GuidedNet)]
    [InlineData(TrainingMode.Cps)]
    [InlineData(TrainingMode.Supervised)]
    public void Batches_whose_labeled_patches_hold_no_foreground_train_in_every_mode(TrainingMode mode)
    {
        var dataset = MsdDataset.Open(CornerLabelDataset());
        // Uniform crops (no foreground oversampling), so that the labeled patches do miss the cube.
        var options = Tiny(mode) with { Iterations = 4, ValidationFraction = 0, ValidateEvery = 4, CheckpointEvery = 4, ForegroundFraction = 0 };
        var data = TrainingData.Prepare(dataset, options, fixture.Folder.File("corner-cache-" + mode));
        // The staged situation: the batches this run sees (the trainer's own sampler) have labeled patches without foreground.
        var sampler = new PatchSampler(data.Labeled, data.Unlabeled, options.Patch, options.LabeledBatchSize, options.UnlabeledBatchSize, options.Seed,
            options.ForegroundFraction);
        int empty = Enumerable.Range(0, options.Iterations).Count(i =>
        {
            var batch = sampler.Sample(i);
            return batch.Labels.Take(batch.Labeled * options.Patch.Aggregate(1, (a, b) => a * b)).All(l => l == 0);
        });
        Assert.True(empty >= 2, $"only {empty} of {options.Iterations} batches lack foreground");

        string folder = fixture.Folder.File("corner-" + mode);
        using var trainer = new Trainer(options, data, CPU, folder, dataset.LabelNames);
        var result = trainer.Run(resume: false);
        Assert.True(result.Completed);
        var losses = Losses(folder);
        Assert.Equal(options.Iterations, losses.Count);
        Assert.All(losses.SelectMany(l => l), term => Assert.True(double.IsFinite(term.Value), $"{term.Key} = {term.Value}"));
        // The unlabeled samples still teach: their cross pseudo supervision is a positive term in both two-network modes.
        if (mode != TrainingMode.Supervised)
            Assert.All(losses, l => Assert.True(l.Where(t => t.Key.Contains("cps")).Sum(t => t.Value) > 0, string.Join(", ", l)));
        Assert.True(File.Exists(Path.Combine(folder, Trainer.ModelFileName)));
    }

    private sealed class Progress3(Action cancel) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value)
        {
            if (value.Iteration == 3) cancel();
        }
    }

    private static List<Dictionary<string, double>> Losses(string folder)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "training.json")));
        return doc.RootElement.GetProperty("history").GetProperty("iterations").EnumerateArray()
            .Select(e => e.GetProperty("losses").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetDouble())).ToList();
    }

    [Theory]
    [InlineData("guidednet")]
    [InlineData("supervised")]
    [InlineData("cps")]
    public void Train_command_writes_a_model_that_predict_accepts(string mode)
    {
        string run = fixture.Folder.File("cli-" + mode);
        var output = new StringWriter();
        var error = new StringWriter();
        int code = GuidedNetCli.Run(new[]
        {
            "train", "--dataset", fixture.Dataset, "--out", run, "--mode", mode, "--iterations", "4", "--patch", "16,32,32",
            "--batch", mode == "supervised" ? "2" : "4", "--labeled-batch", "2", "--base-channels", "4", "--labeled", "3",
            "--validate-every", "2", "--checkpoint-every", "2", "--device", "cpu", ReproducibleCpuKernels.Flag, "--cache", fixture.Folder.File("cache"),
        }, output, error);
        Assert.True(code == 0, error.ToString() + output);
        Assert.Contains("it 4/4", output.ToString());
        Assert.True(File.Exists(Path.Combine(run, "model.guidednet")));
        Assert.True(new FileInfo(Path.Combine(run, "curves.png")).Length > 500);
        using (var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "training.json"))))
        {
            var history = doc.RootElement.GetProperty("history");
            Assert.Equal(4, history.GetProperty("iterations").GetArrayLength());
            Assert.Equal(2, history.GetProperty("validations").GetArrayLength());
            var first = history.GetProperty("iterations")[0];
            Assert.True(first.GetProperty("losses").GetProperty("total").GetDouble() > 0);
            Assert.Equal(0.1 * Math.Pow(1 - 1 / 4.0, 0.9), first.GetProperty("learningRate").GetDouble(), 12);
        }

        code = GuidedNetCli.Run(new[]
        {
            "predict", "--model", Path.Combine(run, "model.guidednet"), "--input", Path.Combine(fixture.Dataset, "imagesTs"),
            "--output", Path.Combine(run, "pred"), "--device", "cpu", ReproducibleCpuKernels.Flag,
        }, output, error);
        Assert.True(code == 0, error.ToString() + output);
        foreach (string image in Directory.GetFiles(Path.Combine(fixture.Dataset, "imagesTs")))
        {
            string name = MsdDataset.CaseName(image);
            var scan = NiftiReader.Read(image);
            var mask = NiftiReader.Read(Path.Combine(run, "pred", name + ".nii.gz"));
            Assert.True(mask.SameGrid(scan));
            Assert.True(mask.Affine.ApproximatelyEquals(scan.Affine, 1e-5));
            Assert.All(mask.Voxels, v => Assert.InRange(v, 0, 3));
        }
    }
}
