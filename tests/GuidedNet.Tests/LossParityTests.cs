using System.Text.Json;
using GuidedNet.Imaging.Numpy;
using GuidedNet.TestSupport;
using GuidedNet.Training;
using GuidedNet.Training.Losses;
using static TorchSharp.torch;

namespace GuidedNet.Tests;

/// <summary>
/// One training step's losses against the authors' code (reference README §2): batch of 4 (2
/// labeled), K = 6, C = 16, 8×12×12, iteration 3000, λ = 0.3.
/// </summary>
[Collection(GlobalRandomCollection.Name)]
public class LossParityTests
{
    private static Tensor Load(string name, bool grad = false)
    {
        var a = Reference.Npy(name);
        var t = a.Dtype == "<i8" ? tensor(a.Values.Select(v => (long)v).ToArray(), a.Shape) : tensor(a.AsFloat(), a.Shape);
        return grad ? t.requires_grad_(true) : t;
    }

    private static double Scalar(JsonElement scalars, string name) => scalars.GetProperty(name).GetProperty("value").GetDouble();

    private static void AssertClose(double expected, double actual, string name, double relative = 1e-5) =>
        Assert.True(Math.Abs(expected - actual) <= relative * Math.Max(Math.Abs(expected), 1e-12) + 1e-12,
            $"{name}: expected {expected:R}, got {actual:R}");

    private static void AssertArray(string fixture, Tensor actual, double tolerance = 1e-5)
    {
        var expected = Reference.Npy(fixture);
        var values = actual.detach().contiguous().to(ScalarType.Float32).data<float>().ToArray();
        Assert.Equal(expected.Count, values.LongLength);
        double max = 0;
        for (long i = 0; i < values.LongLength; i++) max = Math.Max(max, Math.Abs(values[i] - expected.Values[i]));
        Assert.True(max <= tolerance, $"{fixture}: differs by up to {max}");
    }

    /// <param name="slabVoxels">for autograd: the default (one slab per sample here) and 1 (one depth slice per slab: 8 per sample)</param>
    [Theory]
    [InlineData(VoxelTermsPath.CpuKernel, GuidedNetLoss.DefaultSlabVoxels)]
    [InlineData(VoxelTermsPath.Autograd, GuidedNetLoss.DefaultSlabVoxels)]
    [InlineData(VoxelTermsPath.Autograd, 1)]
    public void Every_term_intermediate_and_gradient_matches_the_authors_code(VoxelTermsPath path, int slabVoxels)
    {
        using var scope = NewDisposeScope();
        var out1 = Load("loss_out1");
        var out2 = Load("loss_out2");
        var rep1 = Load("loss_rep1");
        var rep2 = Load("loss_rep2");
        var labels = Load("loss_label");
        var histogram = Reference.Npy("ktcps_dataset_histogram").Values;
        var kt = new KtCpsWeights(histogram);
        AssertArray("ktcps_initial_weights", tensor(kt.Weights));

        using var step = new GuidedNetLoss(6, lambda: 0.3, consistency: 0.1, slabVoxels: slabVoxels, path: path).Compute(out1, rep1, out2, rep2, labels, 2, kt, 3000);

        using var manifest = JsonDocument.Parse(File.ReadAllText(Reference.File("manifest.json")));
        var s = manifest.RootElement.GetProperty("scalars");
        AssertClose(Scalar(s, "consistency_weight"), step.ConsistencyWeight, "consistency_weight");
        var pairs = new (string Fixture, string Ours)[]
        {
            ("loss_ce1", "ce1"), ("loss_ce2", "ce2"), ("loss_dice1", "dice1"), ("loss_dice2", "dice2"),
            ("loss_sup1", "sup1"), ("loss_sup2", "sup2"), ("proto_loss1", "proto1"), ("proto_loss2", "proto2"),
            ("gmm_loss1", "gmm1"), ("gmm_loss2", "gmm2"), ("gmm_loss1_unlabeled", "gmm1_u"), ("gmm_loss2_unlabeled", "gmm2_u"),
            ("cgmm_consistency", "cons"), ("cps_loss_net1", "cps1"), ("cps_loss_net2", "cps2"), ("loss_cps", "cps"),
            ("model1_loss", "model1"), ("model2_loss", "model2"), ("total_loss", "total"),
        };
        foreach (var (fixture, ours) in pairs) AssertClose(Scalar(s, fixture), step.Values[ours], fixture);
        AssertArray("ktcps_weights_A", tensor(step.WeightsA));
        AssertArray("ktcps_weights_B", tensor(step.WeightsB));

        AssertArray("grad_out1", step.GradLogits1);
        AssertArray("grad_out2", step.GradLogits2);
        AssertArray("grad_rep1", step.GradFeatures1);
        AssertArray("grad_rep2", step.GradFeatures2);
    }

    [Fact]
    public void Prototypes_and_cgmm_responses_match_the_authors_code()
    {
        using var scope = NewDisposeScope();
        var labels = Load("loss_label")[TensorIndex.Slice(0, 2)];
        foreach (var (n, rep) in new[] { (1, Load("loss_rep1")), (2, Load("loss_rep2")) })
        {
            var labeled = rep[TensorIndex.Slice(0, 2)];
            var prototypes = ClassPrototypes.Compute(labeled, labels, 6);
            if (n == 1) AssertArray("cur_cls_label1", prototypes.Presence);
            AssertArray($"prototypes{n}", prototypes.Prototypes);
            AssertArray($"gmm_res{n}", CgmmResponses.Labeled(labeled, prototypes.Prototypes, prototypes.Presence));
            AssertArray($"gmm_res{n}_unlabeled", CgmmResponses.Unlabeled(rep[TensorIndex.Slice(2, 4)], prototypes.Prototypes));
        }
    }

    /// <param name="consistency">0.1 as the presets; 1000 lets the CGMM consistency dominate the feature gradients</param>
    [Theory]
    [InlineData(0.3, 0.1)]
    [InlineData(1.0, 1000.0)]
    public void Cpu_kernel_equals_the_autograd_terms_on_a_ragged_volume(double lambda, double consistency)
    {
        // 3×30×31 = 2790 voxels: two kernel chunks per sample and a tail of 6 voxels; 5 classes, one
        // of them absent from the first labeled sample; 7 channels, half of them zero as after a ReLU.
        // Logits of unit scale: where a probability comes within ~1e-6 of 1, the reference's
        // BCE(r, s) divides by 1 − s + 1e-6, and one rounding of s (libtorch's exp against .NET's)
        // moves that gradient by percents in either implementation.
        using var scope = NewDisposeScope();
        manual_seed(11);
        var logits1 = randn(new long[] { 4, 5, 3, 30, 31 });
        var logits2 = randn(new long[] { 4, 5, 3, 30, 31 });
        var features1 = randn(new long[] { 4, 7, 3, 30, 31 }).clamp_min(0);
        var features2 = randn(new long[] { 4, 7, 3, 30, 31 }).clamp_min(0);
        var labels = cat(new[] { randint(0, 4, new long[] { 1, 3, 30, 31 }), randint(0, 5, new long[] { 3, 3, 30, 31 }) });
        var histogram = new double[] { 9000, 3000, 800, 200, 40 };
        LossStep Run(VoxelTermsPath path) =>
            new GuidedNetLoss(5, lambda, consistency, path: path).Compute(logits1, features1, logits2, features2, labels, 2, new KtCpsWeights(histogram), 30000);

        using var kernel = Run(VoxelTermsPath.CpuKernel);
        using var autograd = Run(VoxelTermsPath.Autograd);
        Assert.Equal(autograd.Values.Keys.Order(), kernel.Values.Keys.Order());
        foreach (var (name, expected) in autograd.Values) AssertClose(expected, kernel.Values[name], name);
        foreach (var (name, expected, actual) in new[]
        {
            ("logits 1", autograd.GradLogits1, kernel.GradLogits1), ("logits 2", autograd.GradLogits2, kernel.GradLogits2),
            ("features 1", autograd.GradFeatures1, kernel.GradFeatures1), ("features 2", autograd.GradFeatures2, kernel.GradFeatures2),
        })
        {
            double scale = expected.abs().max().item<float>();
            double error = (expected - actual).abs().max().item<float>();
            Assert.True(scale > 0 && error <= 1e-5 * scale, $"gradient w.r.t. {name}: differs by up to {error} (largest {scale})");
        }
    }

    [Theory]
    [InlineData(VoxelTermsPath.CpuKernel)]
    [InlineData(VoxelTermsPath.Autograd)]
    public void A_cps_term_whose_pseudo_labels_carry_no_weight_contributes_nothing_instead_of_NaN(VoxelTermsPath path)
    {
        // Both networks predict background everywhere, and background, the most frequent class, has
        // KT-CPS weight 0: the reference's weighted mean Σ w·ce / Σ w is 0/0 there. (Seen early in
        // training on small networks; it turned both networks into NaN.)
        using var scope = NewDisposeScope();
        manual_seed(5);
        var logits1 = randn(new long[] { 4, 3, 2, 8, 8 }) * 0.1;
        logits1[.., 0] += 5;
        var logits2 = randn(new long[] { 4, 3, 2, 8, 8 }) * 0.1;
        logits2[.., 0] += 5;
        var features = randn(new long[] { 4, 5, 2, 8, 8 }).clamp_min(0);
        var labels = randint(0, 3, new long[] { 4, 2, 8, 8 });
        var kt = new KtCpsWeights(new double[] { 900, 90, 9 });
        Assert.Equal(0f, kt.Weights[0]);
        using var step = new GuidedNetLoss(3, path: path).Compute(logits1, features, logits2, features, labels, 2, kt, 30000);
        Assert.Equal(0, step.Values["cps1"]);
        Assert.Equal(0, step.Values["cps2"]);
        Assert.All(step.Values, v => Assert.True(double.IsFinite(v.Value), $"{v.Key} = {v.Value}"));
        foreach (var g in new[] { step.GradLogits1, step.GradFeatures1, step.GradLogits2, step.GradFeatures2 })
            Assert.True(g.isfinite().all().item<bool>());
        // Everything else is as without the CPS term: the same step at a consistency weight of 0.
        using var withoutCps = new GuidedNetLoss(3, consistency: 0, path: path).Compute(logits1, features, logits2, features, labels, 2, new KtCpsWeights(new double[] { 900, 90, 9 }), 30000);
        AssertClose(withoutCps.Values["sup1"], step.Values["sup1"], "sup1");
        AssertClose(withoutCps.Values["gmm2"], step.Values["gmm2"], "gmm2");
    }

    [Theory]
    [InlineData(VoxelTermsPath.CpuKernel)]
    [InlineData(VoxelTermsPath.Autograd)]
    public void A_label_outside_the_classes_is_refused_by_name_and_leaves_the_weights(VoxelTermsPath path)
    {
        using var scope = NewDisposeScope();
        var logits = zeros(new long[] { 4, 3, 2, 4, 4 });
        var features = ones(new long[] { 4, 5, 2, 4, 4 });
        var labels = zeros(new long[] { 4, 2, 4, 4 }, ScalarType.Int64);
        labels[1, 0, 2, 3] = tensor(3L);
        var kt = new KtCpsWeights(new double[] { 5, 3, 1 });
        var before = kt.Weights;
        var error = Assert.Throws<ArgumentException>(() =>
            new GuidedNetLoss(3, path: path).Compute(logits, features, logits, features, labels, 2, kt, 1));
        Assert.Equal("1 labeled voxels hold a label ≥ 3, the number of classes", error.Message);
        Assert.Same(before, kt.Weights);   // refused before the KT-CPS state moved
    }

    [Fact]
    public void Class_loop_distance_equals_the_broadcast_formula_with_gradients()
    {
        // The memory-saving CGMM against the reference's [B, K, C, D, H, W] broadcast.
        using var scope = NewDisposeScope();
        manual_seed(5);
        var f = randn(new long[] { 2, 16, 4, 6, 5 }, requires_grad: true);
        var mu = randn(new long[] { 2, 6, 16 }, requires_grad: true);
        var g = randn(new long[] { 2, 6, 4, 6, 5 });
        var ours = CgmmResponses.MeanAbsDistance(f, mu);
        (ours * g).sum().backward();
        var gradF = f.grad!.clone();
        var gradMu = mu.grad!.clone();
        f.grad!.zero_();
        mu.grad!.zero_();
        var broadcast = (f.unsqueeze(1) - mu.reshape(2, 6, 16, 1, 1, 1)).abs().mean(new long[] { 2 });
        (broadcast * g).sum().backward();
        Assert.True(ours.allclose(broadcast, 1e-6, 1e-6));
        Assert.True(gradF.allclose(f.grad!, 1e-6, 1e-6));
        Assert.True(gradMu.allclose(mu.grad!, 1e-5, 1e-5));
    }

    [Fact]
    public void Schedules_match_the_reference_values()
    {
        using var manifest = JsonDocument.Parse(File.ReadAllText(Reference.File("manifest.json")));
        var schedules = manifest.RootElement.GetProperty("schedules");
        foreach (var p in schedules.GetProperty("sigmoid_rampup(current, 200)").EnumerateObject())
            AssertClose(p.Value.GetDouble(), Schedules.SigmoidRampup(int.Parse(p.Name), 200), "rampup " + p.Name, 1e-12);
        foreach (var p in schedules.GetProperty("poly_lr(base 0.1, max 20000)").EnumerateObject())
            AssertClose(p.Value.GetDouble(), Schedules.PolyLearningRate(0.1, int.Parse(p.Name), 20000), "poly " + p.Name, 1e-12);
    }
    /// <summary>
    /// Labeled patches without foreground (most batches once organs are small relative to the patch):
    /// the prototype separation is then a constant, and asking libtorch for its gradient aborted the
    /// whole process. Terms with nothing to learn from contribute zero gradients; the step is finite.
    /// </summary>
    [Theory]
    [InlineData(VoxelTermsPath.CpuKernel, false)]
    [InlineData(VoxelTermsPath.Autograd, false)]
    [InlineData(VoxelTermsPath.CpuKernel, true)]
    [InlineData(VoxelTermsPath.Autograd, true)]
    public void A_batch_without_foreground_trains_with_finite_gradients(VoxelTermsPath path, bool oneClassOnly)
    {
        using var scope = NewDisposeScope();
        var labels = Load("loss_label");
        // No foreground at all, or only class 1 in the first labeled sample.
        labels = oneClassOnly ? zeros_like(labels).index_put_(tensor(1L), TensorIndex.Single(0), TensorIndex.Slice(0, 2)) : zeros_like(labels);
        using var step = new GuidedNetLoss(6, path: path).Compute(Load("loss_out1"), Load("loss_rep1"), Load("loss_out2"), Load("loss_rep2"),
            labels, 2, new KtCpsWeights(Reference.Npy("ktcps_dataset_histogram").Values), 3000);
        Assert.All(step.Values, v => Assert.True(double.IsFinite(v.Value), $"{v.Key} = {v.Value}"));
        if (!oneClassOnly) Assert.Equal(0, step.Values["proto1"]); // one class present: nothing to separate
        foreach (var g in new[] { step.GradLogits1, step.GradFeatures1, step.GradLogits2, step.GradFeatures2 })
            Assert.True(g.isfinite().all().item<bool>());
        Assert.True(step.GradLogits1.abs().sum().item<float>() > 0); // the cross-entropy still teaches background
        // The unlabeled samples (after the 2 labeled ones) still get gradients from the unsupervised terms.
        foreach (var g in new[] { step.GradLogits1, step.GradLogits2 })
            Assert.True(g[TensorIndex.Slice(2)].abs().sum().item<float>() > 0);
    }
}
