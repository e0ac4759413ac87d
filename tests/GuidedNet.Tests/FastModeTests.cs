using System.Text.Json;
using GuidedNet.Imaging.Preprocessing;
using GuidedNet.Inference;
using GuidedNet.Models;
using GuidedNet.Network;
using GuidedNet.TestSupport;
using static TorchSharp.torch;

namespace GuidedNet.Tests;

/// <summary>Fast prediction: the body box, window coverage of a region, the bf16 network and its guard, and the options.</summary>
public class FastModeTests
{
    private static SlidingWindowOptions Windows() => new() { Patch = [16, 32, 32], Stride = [8, 16, 16] };

    [Fact]
    public void The_body_box_bounds_the_voxels_above_the_threshold_and_is_null_without_any()
    {
        const int d = 6, h = 10, w = 12;
        var volume = Enumerable.Repeat(-3f, d * h * w).ToArray();
        volume[(1 * h + 2) * w + 3] = 1;   // z 1, y 2, x 3
        volume[(4 * h + 7) * w + 9] = 0.5f; // z 4, y 7, x 9
        Assert.Equal(new VoxelBox(1, 5, 2, 8, 3, 10), BodyRegion.Find(volume, d, h, w, threshold: 0f));
        // Without a threshold: anything above the minimum.
        Assert.Equal(new VoxelBox(1, 5, 2, 8, 3, 10), BodyRegion.Find(volume, d, h, w, threshold: null));
        Assert.Null(BodyRegion.Find(volume, d, h, w, threshold: 2f));
        Assert.Null(BodyRegion.Find(new float[d * h * w], d, h, w, threshold: null));
    }

    [Fact]
    public void The_ct_threshold_is_minus_500_hu_or_the_clip_floor_when_that_is_higher()
    {
        // FLARE22 clips at -22 HU: the network cannot tell anything at or below it from air.
        var flare = PreprocessingPlan.Flare22.Normalization!;
        Assert.Equal((float)((-22 - flare.Mean) / flare.StandardDeviation), BodyRegion.NormalizedThreshold(PreprocessingPlan.Flare22));
        var wide = PreprocessingPlan.Auto with { Normalization = new IntensityNormalization(-1000, 1000, 0, 100) };
        Assert.Equal(-5f, BodyRegion.NormalizedThreshold(wide));
        Assert.Null(BodyRegion.NormalizedThreshold(PreprocessingPlan.Raw));
    }

    [Fact]
    public void Skipping_air_keeps_the_whole_tilings_windows_that_touch_the_body_and_tiling_the_body_places_its_own()
    {
        // The whole axis: exactly the whole tiling, either way.
        Assert.Equal(SlidingWindowPredictor.WindowStarts(327, 160, 80), SlidingWindowPredictor.TouchingStarts(327, 160, 80, 0, 327));
        Assert.Equal(SlidingWindowPredictor.WindowStarts(327, 160, 80), SlidingWindowPredictor.RegionStarts(327, 160, 80, 0, 327));
        // Small patches: the whole tiling's windows touching [40, 70) are 32, 48, 64; its own tiling needs two.
        Assert.Equal([32, 48, 64], SlidingWindowPredictor.TouchingStarts(200, 16, 16, 40, 70));
        Assert.Equal([40, 54], SlidingWindowPredictor.RegionStarts(200, 16, 16, 40, 70));
        // A 164-voxel body in a 327-voxel field with 160-voxel patches: every window of the whole
        // tiling (0, 80, 160, 167) touches it; tiling the body alone needs 2.
        Assert.Equal([0, 80, 160, 167], SlidingWindowPredictor.TouchingStarts(327, 160, 80, 82, 246));
        Assert.Equal([82, 86], SlidingWindowPredictor.RegionStarts(327, 160, 80, 82, 246));
        // A region shorter than the patch: one window centred on it, kept inside the volume.
        Assert.Equal([100], SlidingWindowPredictor.RegionStarts(327, 160, 80, 150, 210)); // centre 180
        Assert.Equal([0], SlidingWindowPredictor.RegionStarts(327, 160, 80, 0, 20));
        Assert.Equal([167], SlidingWindowPredictor.RegionStarts(327, 160, 80, 320, 327));
        Assert.Throws<ArgumentException>(() => SlidingWindowPredictor.RegionStarts(100, 16, 8, 50, 50));
    }

    [Fact]
    public void Inside_a_region_covered_by_the_whole_tilings_windows_scores_are_exact_and_outside_is_background()
    {
        using var model = ModelFile.Load(Reference.File("unet_gmm_k14.pth"), CPU);
        var volume = Reference.Npy("sw_volume").AsFloat(); // 24 x 40 x 50
        var predictor = new SlidingWindowPredictor(model.Network, CPU, Windows());
        var exact = predictor.Predict(volume, 24, 40, 50, keepScores: true);
        var whole = predictor.Predict(volume, 24, 40, 50, keepScores: true, region: new VoxelBox(0, 24, 0, 40, 0, 50));
        Assert.Equal(exact.Scores, whole.Scores);
        Assert.Equal(0, whole.SkippedWindows);

        // x in [0, 10): only the windows starting at x 0 touch it (starts 0, 16, 18).
        var region = new VoxelBox(0, 24, 0, 40, 0, 10);
        var part = predictor.Predict(volume, 24, 40, 50, keepScores: true, region: region);
        Assert.Equal(8, part.SkippedWindows);
        long n = 24L * 40 * 50;
        for (int z = 0; z < 24; z++)
            for (int y = 0; y < 40; y++)
                for (int x = 0; x < 50; x++)
                {
                    long i = (z * 40L + y) * 50 + x;
                    if (x < 10)
                        for (int k = 0; k < 14; k++) Assert.Equal(exact.Scores![k * n + i], part.Scores![k * n + i]);
                    else if (x >= 32)
                    {
                        // No window reaches x 32..49: background with certainty.
                        Assert.Equal(0, part.Labels[i]);
                        Assert.Equal(1f, part.Scores![i]);
                        for (int k = 1; k < 14; k++) Assert.Equal(0f, part.Scores![k * n + i]);
                    }
                }
    }

    // Found in review: slices before a region's first window went through the ring's finalisation,
    // whose slots by then held the first window's slices, and wiped them.
    [Fact]
    public void A_region_starting_deep_in_z_leaves_the_slices_before_it_background_and_its_own_exact()
    {
        using var model = ModelFile.Load(Reference.File("unet_gmm_k14.pth"), CPU);
        var half = Reference.Npy("sw_volume").AsFloat(); // 24 x 40 x 50, twice along z
        var volume = half.Concat(half).ToArray();
        var predictor = new SlidingWindowPredictor(model.Network, CPU, Windows());
        var exact = predictor.Predict(volume, 48, 40, 50, keepScores: true);
        // z starts 0, 8, .., 32; the ones touching z 30..47 are 16, 24, 32.
        var part = predictor.Predict(volume, 48, 40, 50, keepScores: true, region: new VoxelBox(30, 48, 0, 40, 0, 50));
        Assert.Equal(3 * 2 * 3, part.Windows - part.SkippedWindows);
        long n = 48L * 40 * 50, plane = 40L * 50;
        for (long i = 0; i < n; i++)
        {
            long z = i / plane;
            if (z >= 24) // every window covering these slices ran (16..23 lack the one at 8)
                for (int k = 0; k < 14; k++) Assert.Equal(exact.Scores![k * n + i], part.Scores![k * n + i]);
            else if (z < 16)
            {
                Assert.Equal(0, part.Labels[i]);
                Assert.Equal(1f, part.Scores![i]);
            }
        }
    }

    [Fact]
    public void A_bf16_network_gives_nearly_the_exact_labels_and_leaves_the_callers_network_fp32()
    {
        using var model = ModelFile.Load(Reference.File("unet_gmm_k14.pth"), CPU);
        var volume = Reference.Npy("sw_volume").AsFloat();
        var exact = new SlidingWindowPredictor(model.Network, CPU, Windows()).Predict(volume, 24, 40, 50, keepScores: true);
        var options = Windows();
        options.Precision = InferencePrecision.BFloat16;
        // Prediction only, so oneDNN may compute it (this assembly turns it off for training's
        // reproducibility); ATen's own bf16 convolutions take a minute here.
        bool onednn = Runtime.OneDnn.Enabled;
        SegmentationResult fast;
        try
        {
            Runtime.OneDnn.Enabled = true;
            fast = new SlidingWindowPredictor(model.Network, CPU, options).Predict(volume, 24, 40, 50, keepScores: true);
        }
        finally
        {
            Runtime.OneDnn.Enabled = onednn;
        }

        // The reference weights are far from confident on this volume (many near ties), so a few
        // percent of the labels flip under rounding; a trained model's agree to 99.99 % (docs/performance.md).
        double agreement = exact.Labels.Zip(fast.Labels).Count(p => p.First == p.Second) / (double)exact.Labels.Length;
        Assert.True(agreement >= 0.95, $"bf16 labels agree with fp32 on {agreement:P2} of the voxels");
        double meanScoreError = exact.Scores!.Zip(fast.Scores!).Average(p => Math.Abs(p.First - p.Second));
        Assert.InRange(meanScoreError, 1e-6, 0.01); // rounding happened, and stayed small
        Assert.All(model.Network.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
    }

    [Fact]
    public void Convolutions_whose_input_channels_are_not_a_multiple_of_16_stay_fp32_in_a_low_precision_network()
    {
        using var network = new UNet3D(3, 8);
        network.ToLowPrecision(ScalarType.BFloat16);
        var convolutions = network.named_parameters().Where(p => p.name.EndsWith("weight", StringComparison.Ordinal) && p.parameter.dim() == 5).ToList();
        Assert.All(convolutions, c => Assert.Equal(c.parameter.shape[1] % 16 == 0 ? ScalarType.BFloat16 : ScalarType.Float32, c.parameter.dtype));
        Assert.Contains(convolutions, c => c.parameter.dtype == ScalarType.BFloat16);
        Assert.Equal(ScalarType.Float32, convolutions.Single(c => c.name == "conv1.conv1.0.weight").parameter.dtype); // one input channel
        // It still runs end to end, mixing the two.
        using var _ = inference_mode();
        var (logits, _) = network.forward(randn(new long[] { 1, 1, 16, 16, 16 }).to(ScalarType.BFloat16));
        Assert.Equal(new long[] { 1, 3, 16, 16, 16 }, logits.shape);
    }

    [Fact]
    public void A_low_precision_network_whose_logits_stray_from_fp32_is_refused_by_name()
    {
        using var exact = new UNet3D(3, 16);
        using var wrong = new UNet3D(3, 16);
        wrong.load_state_dict(exact.state_dict());
        wrong.ToLowPrecision(ScalarType.BFloat16);
        using (no_grad())
            foreach (var p in wrong.parameters().Where(p => p.dim() == 5 && p.dtype == ScalarType.BFloat16)) p.mul_(-1); // a kernel computing garbage
        var e = Assert.Throws<InvalidOperationException>(() => SlidingWindowPredictor.CheckLowPrecision(exact, wrong, InferencePrecision.BFloat16, CPU));
        Assert.Contains("bf16 prediction is refused", e.Message);
        Assert.Contains("--precision fp32", e.Message);

        using var right = new UNet3D(3, 16);
        right.load_state_dict(exact.state_dict());
        right.ToLowPrecision(ScalarType.BFloat16);
        SlidingWindowPredictor.CheckLowPrecision(exact, right, InferencePrecision.BFloat16, CPU);
    }

    [Fact]
    public void Fast_mode_parts_parse_apply_and_keep_what_the_user_chose()
    {
        Assert.Same(FastMode.Default, FastMode.Parse("fast"));
        Assert.Equal(FastMode.Baseline, FastMode.Parse("bf16,body"));
        Assert.NotEqual(FastMode.Default, FastMode.Parse("bf16,body")); // named parts are not the model's to change
        Assert.Equal(FastMode.Exact, FastMode.Parse("exact"));
        Assert.Equal(new FastMode(false, true, false, true), FastMode.Parse("body+overlap"));
        Assert.Equal(new FastMode(false, false, true, false), FastMode.Parse("body,crop")); // crop covers body
        Assert.Equal(FastMode.All, FastMode.Parse("all"));
        Assert.Equal("body+overlap", FastMode.Parse("overlap,body").ToString());
        Assert.Throws<ArgumentException>(() => FastMode.Parse("bf16,turbo"));

        var exact = new SlidingWindowOptions { Patch = [16, 32, 32], Gaussian = true };
        var all = FastMode.All.Apply(exact, CPU);
        Assert.Equal(FastMode.CoarseOverlapFraction, all.Overlap);
        Assert.Equal(WindowCoverage.TileBody, all.Coverage);
        Assert.Equal(WindowCoverage.SkipOutsideBody, FastMode.Default.Apply(exact, CPU).Coverage);
        Assert.True(all.Gaussian);
        Assert.Equal(InferencePrecisions.FastestOn(CPU), all.Precision);
        Assert.Equal(InferencePrecision.BFloat16.IsFastOn(CPU) ? InferencePrecision.BFloat16 : InferencePrecision.Float32, all.Precision);
        // A precision or overlap given by the user wins over the part.
        var chosen = FastMode.All.Apply(new SlidingWindowOptions { Patch = [16, 32, 32], Overlap = 0.6, Precision = InferencePrecision.Float32 }, CPU,
            precisionChosen: true, overlapChosen: true);
        Assert.Equal((0.6, InferencePrecision.Float32), (chosen.Overlap, chosen.Precision));
        Assert.Equal(exact.Overlap, FastMode.Exact.Apply(exact, CPU).Overlap);
        Assert.Equal(WindowCoverage.WholeVolume, FastMode.Exact.Apply(exact, CPU).Coverage);
    }

    [Fact]
    public void Fast_takes_the_parts_the_models_calibration_chose_and_named_parts_stay_as_named()
    {
        var calibrated = new ModelMetadata { NumClasses = 3, FastParts = "bf16+body+overlap" };
        var uncalibrated = new ModelMetadata { NumClasses = 3 };
        var resolved = FastMode.Default.ForModel(calibrated);
        Assert.True(resolved.AreParts(new FastMode(true, true, false, true)));
        Assert.True(resolved.FromCalibration);
        Assert.Equal("bf16+body+overlap", resolved.ToString());
        Assert.Contains("the parts the model's calibration chose", FastMode.Describe(resolved.Apply(Windows(), CPU), resolved, CPU));
        Assert.Equal(FastMode.CoarseOverlapFraction, resolved.Apply(new SlidingWindowOptions { Patch = [16, 32, 32] }, CPU).Overlap);

        var fallback = FastMode.Default.ForModel(uncalibrated);
        Assert.True(fallback.AreParts(FastMode.Baseline));
        Assert.False(fallback.FromCalibration);
        Assert.Equal("bf16+body", fallback.ToString());
        Assert.Contains("the model has no calibration", FastMode.Describe(fallback.Apply(Windows(), CPU), fallback, CPU));

        // A calibration that found no part within bounds makes --fast exact; named parts ignore the model.
        Assert.True(FastMode.Default.ForModel(calibrated with { FastParts = "exact" }).IsExact);
        Assert.Equal(FastMode.Parse("bf16"), FastMode.Parse("bf16").ForModel(calibrated));
        Assert.Equal(FastMode.Exact, FastMode.Exact.ForModel(calibrated));
    }
}

/// <summary>The calibration's rules, on masks made to agree or not: which parts a model's --fast is given.</summary>
public class FastModeCalibrationTests
{
    // 4000 voxels: class 1 on [0, 400), class 2 on [400, 800), background after; exact prediction is the truth.
    private static readonly byte[] Truth = Enumerable.Range(0, 4000).Select(i => (byte)(i < 400 ? 1 : i < 800 ? 2 : 0)).ToArray();

    /// <summary>The truth with class 2 cut by <paramref name="voxels"/> at its end (Dice 1 → 2(400−v)/(800−v)).</summary>
    private static byte[] Cut(int voxels) => Truth.Select((t, i) => i >= 800 - voxels && i < 800 ? (byte)0 : t).ToArray();

    private sealed record Behaviour(int Windows, int CutVoxels);

    private static FastModeDecision Decide(Dictionary<string, Behaviour> byMode, int cases = 2) =>
        FastModeCalibration.Decide(Enumerable.Range(0, cases).ToList(), 3, _ => Truth, (mode, _) =>
        {
            var b = byMode[mode.ToString()];
            return (Cut(b.CutVoxels), b.Windows);
        });

    private static Dictionary<string, Behaviour> Behaviours(Behaviour baseline, Behaviour overlap, Behaviour crop, Behaviour all) => new()
    {
        ["exact"] = new(8, 0), ["bf16+body"] = baseline, ["bf16+body+overlap"] = overlap, ["bf16+crop"] = crop, ["all"] = all,
    };

    [Fact]
    public void A_part_within_the_bounds_that_saves_windows_is_taken_and_one_outside_them_is_not()
    {
        // Cutting 10 voxels of 400 moves class 2's Dice by 0.0127 (> 0.005) though 99.75 % of the voxels agree.
        var decision = Decide(Behaviours(new(8, 0), new(4, 0), new(3, 10), new(2, 10)));
        Assert.Equal("bf16+body+overlap", decision.Chosen);
        Assert.Equal(2, decision.Cases);
        var crop = decision.Candidates.Single(c => c.Mode == "bf16+crop");
        Assert.False(crop.WithinBounds);
        Assert.Equal(2, crop.DiceChangeClass);
        Assert.Equal(2 * 390.0 / 790 - 1, crop.DiceChange, 6);
        Assert.Equal(0.9975, crop.VoxelAgreement, 6);
        Assert.Equal(6, crop.Windows); // 3 per case
        Assert.Equal(new[] { "exact", "bf16+body", "bf16+body+overlap", "bf16+crop", "all" }, decision.Candidates.Select(c => c.Mode));
    }

    [Fact]
    public void Both_parts_are_taken_together_only_when_together_they_stay_within_the_bounds_and_save_more()
    {
        Assert.Equal("all", Decide(Behaviours(new(8, 0), new(4, 0), new(3, 0), new(2, 0))).Chosen);
        // Together out of bounds: the part with fewer windows alone.
        Assert.Equal("bf16+crop", Decide(Behaviours(new(8, 0), new(4, 0), new(3, 0), new(2, 10))).Chosen);
        // Together no fewer windows than the better part: that part.
        Assert.Equal("bf16+crop", Decide(Behaviours(new(8, 0), new(4, 0), new(3, 0), new(3, 0))).Chosen);
    }

    [Fact]
    public void A_part_the_cases_did_not_exercise_is_not_taken_and_a_baseline_outside_the_bounds_makes_fast_exact()
    {
        // Same windows as the baseline (cases smaller than a patch, a body filling the volume): it showed nothing.
        var unexercised = Decide(Behaviours(new(8, 0), new(8, 0), new(8, 0), new(8, 0)));
        Assert.Equal("bf16+body", unexercised.Chosen);
        Assert.All(unexercised.Candidates, c => Assert.True(c.WithinBounds));
        // Within the voxel bound but not the Dice bound: exact.
        var refused = Decide(Behaviours(new(8, 10), new(4, 0), new(3, 0), new(2, 0)));
        Assert.Equal("exact", refused.Chosen);
        Assert.Contains("exact prediction for this model", refused.Reason);
        Assert.Throws<ArgumentException>(() => Decide(Behaviours(new(8, 0), new(4, 0), new(3, 0), new(2, 0)), cases: 0));
    }

    [Fact]
    public void A_part_that_moves_windows_must_leave_half_the_dice_allowance_to_spare_and_the_baseline_needs_only_the_bounds()
    {
        // Cutting 3 voxels of 400: class 2's Dice moves by 0.0038, within 0.005 but not within half of it.
        var decision = Decide(Behaviours(new(8, 3), new(4, 3), new(3, 1), new(2, 3)));
        var overlap = decision.Candidates.Single(c => c.Mode == "bf16+body+overlap");
        Assert.Equal(2 * 397.0 / 797 - 1, overlap.DiceChange, 6);
        Assert.True(overlap.WithinBounds);
        Assert.False(overlap.WithinMargin);
        // Cutting 1 voxel (0.00125) is within the margin: the body's own tiling is taken; the baseline passes on the bounds alone.
        Assert.True(decision.Candidates.Single(c => c.Mode == "bf16+crop").WithinMargin);
        Assert.Equal("bf16+crop", decision.Chosen);
    }

    [Fact]
    public void A_classes_dice_change_counts_only_over_cases_that_hold_the_class()
    {
        var agreement = new FastModeAgreement(3);
        var exact = new FastModeAgreement(3);
        var noClass2 = Truth.Select(t => t == 2 ? (byte)0 : t).ToArray();
        exact.Add(noClass2, noClass2, noClass2);
        // The fast mask calls 30 voxels class 2 that the truth does not hold: no Dice for class 2 in this case.
        var spurious = (byte[])noClass2.Clone();
        for (int i = 1000; i < 1030; i++) spurious[i] = 2;
        agreement.Add(spurious, noClass2, noClass2);
        Assert.Null(agreement.MeanDiceToTruth(2));
        Assert.Equal(0.9925, agreement.VoxelAgreement, 6);
        Assert.Equal((1, 0.0), agreement.LargestDiceChange(exact));
        Assert.False(agreement.WithinBounds(exact)); // 99.25 % of the voxels agree: below 99.5 %
    }
}

/// <summary>The calibration end to end: training records it in the model, calibrate-fast redoes it, predict --fast follows it.</summary>
public class FastModeCalibrationCliTests
{
    [Fact]
    public void Training_writes_the_calibrated_parts_into_the_model_and_predict_fast_takes_them()
    {
        using var tmp = new TempFolder();
        var (code, output, error) = InProcessCli.Run("synth", "--out", tmp.File("ds"), "--cases", "4", "--test", "2", "--classes", "3", "--size", "48,48,24", "--seed", "3");
        Assert.Equal(0, code);
        (code, output, error) = InProcessCli.Run("train", "--dataset", tmp.File("ds"), "--out", tmp.File("run"), "--mode", "supervised", "--iterations", "4",
            "--patch", "16,16,16", "--batch", "2", "--labeled-batch", "2", "--base-channels", "2", "--val-cases", "phantom_003", "--validate-every", "2",
            "--device", "cpu", ReproducibleCpuKernels.Flag);
        Assert.True(code == 0, output + error);
        string model = tmp.File("run/model.guidednet");
        string? chosen = ModelFile.ReadMetadata(model).FastParts;
        Assert.NotNull(chosen);
        Assert.Contains($"fast mode for this model: {chosen}, decided on 1 validation case(s)", output);
        using (var history = JsonDocument.Parse(File.ReadAllText(tmp.File("run/training.json"))))
        {
            var fast = history.RootElement.GetProperty("history").GetProperty("fastMode");
            Assert.Equal(chosen, fast.GetProperty("chosen").GetString());
            var windows = fast.GetProperty("candidates").EnumerateArray().ToDictionary(c => c.GetProperty("mode").GetString()!, c => c.GetProperty("windows").GetInt32());
            Assert.Equal(["exact", "bf16+body", "bf16+body+overlap", "bf16+crop", "all"], windows.Keys);
            // Cases several patches wide: the coarse overlap computes fewer windows, so it was exercised; air skipping never adds any.
            Assert.True(windows["bf16+body+overlap"] < windows["bf16+body"], string.Join(", ", windows));
            Assert.True(windows["bf16+body"] <= windows["exact"], string.Join(", ", windows));
        }
        // The kept model before calibration has none; the model the run hands over has it.
        Assert.Null(ModelFile.ReadMetadata(tmp.File("run/best.guidednet")).FastParts);

        (code, output, error) = InProcessCli.Run("predict", "--model", model, "--input", tmp.File("ds/imagesTs"), "--output", tmp.File("fast"), "--fast", "--device", "cpu", ReproducibleCpuKernels.Flag);
        Assert.True(code == 0, output + error);
        Assert.Contains("(fast: the parts the model's calibration chose)", output);
        var resolved = FastMode.Parse(chosen);
        Assert.Equal(resolved.CoarseOverlap, output.Contains("overlap 0.25"));
        Assert.Equal(resolved.CoarseOverlap ? "stride 12x12x12" : "stride 8x8x8", System.Text.RegularExpressions.Regex.Match(output, @"stride \d+x\d+x\d+").Value);
    }

    [Fact]
    public void Calibrate_fast_decides_on_labelled_test_cases_and_refuses_what_it_cannot_calibrate_by_name()
    {
        using var tmp = new TempFolder();
        Assert.Equal(0, InProcessCli.Run("synth", "--out", tmp.File("ds"), "--cases", "3", "--test", "2", "--classes", "3", "--size", "48,48,24", "--seed", "4").Code);
        Assert.Equal(0, InProcessCli.Run("train", "--dataset", tmp.File("ds"), "--out", tmp.File("run"), "--mode", "supervised", "--iterations", "2",
            "--patch", "16,16,16", "--batch", "2", "--labeled-batch", "2", "--base-channels", "2", "--val-cases", "phantom_002", "--validate-every", "2",
            "--no-fast-calibration", "--device", "cpu", ReproducibleCpuKernels.Flag).Code);
        string model = tmp.File("run/model.guidednet");
        // Validated, but told not to calibrate: the model carries no fast parts and training.json no decision.
        Assert.Null(ModelFile.ReadMetadata(model).FastParts);
        using (var history = JsonDocument.Parse(File.ReadAllText(tmp.File("run/training.json"))))
        {
            Assert.True(history.RootElement.GetProperty("history").GetProperty("validations").GetArrayLength() > 0);
            Assert.False(history.RootElement.GetProperty("history").TryGetProperty("fastMode", out var fast) && fast.ValueKind != JsonValueKind.Null);
        }

        var (code, output, error) = InProcessCli.Run("calibrate-fast", "--model", model, "--dataset", tmp.File("ds"), "--output", tmp.File("calibrated.guidednet"), "--device", "cpu", ReproducibleCpuKernels.Flag);
        Assert.True(code == 0, output + error);
        string chosen = ModelFile.ReadMetadata(tmp.File("calibrated.guidednet")).FastParts!;
        Assert.Contains($"fast mode for this model: {chosen} (", output);
        Assert.Contains("2 test case(s)", output);
        foreach (string candidate in new[] { "| exact |", "| bf16+body |", "| bf16+body+overlap |", "| bf16+crop |", "| all |" }) Assert.Contains(candidate, output);
        Assert.Null(ModelFile.ReadMetadata(model).FastParts); // --output: the model itself is left as it was

        // The authors' state dict has no metadata to hold a calibration; a dataset without labelled test cases has nothing to decide on.
        (code, _, error) = InProcessCli.Run("calibrate-fast", "--model", Reference.File("unet_gmm_k14.pth"), "--dataset", tmp.File("ds"), "--device", "cpu", ReproducibleCpuKernels.Flag);
        Assert.NotEqual(0, code);
        Assert.Contains("unet_gmm_k14.pth", error);
        Directory.Delete(tmp.File("ds/labelsTs"), recursive: true);
        (code, _, error) = InProcessCli.Run("calibrate-fast", "--model", model, "--dataset", tmp.File("ds"), "--device", "cpu", ReproducibleCpuKernels.Flag);
        Assert.Equal(2, code);
        Assert.Contains("needs imagesTs/ and labelsTs/", error);
    }
}
