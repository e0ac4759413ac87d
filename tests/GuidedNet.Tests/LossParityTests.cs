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

    [Fact]
    public void Every_term_intermediate_and_gradient_matches_the_authors_code()
    {
        using var scope = NewDisposeScope();
        var out1 = Load("loss_out1", grad: true);
        var out2 = Load("loss_out2", grad: true);
        var rep1 = Load("loss_rep1", grad: true);
        var rep2 = Load("loss_rep2", grad: true);
        var labels = Load("loss_label");
        var histogram = Reference.Npy("ktcps_dataset_histogram").Values;
        var kt = new KtCpsWeights(histogram);
        AssertArray("ktcps_initial_weights", tensor(kt.Weights));

        var terms = new GuidedNetLoss(6, lambda: 0.3, consistency: 0.1).Compute(out1, rep1, out2, rep2, labels, 2, kt, 3000);

        using var manifest = JsonDocument.Parse(File.ReadAllText(Reference.File("manifest.json")));
        var s = manifest.RootElement.GetProperty("scalars");
        AssertClose(Scalar(s, "consistency_weight"), terms.ConsistencyWeight, "consistency_weight");
        var pairs = new (string, Tensor)[]
        {
            ("loss_ce1", terms.CrossEntropy1), ("loss_ce2", terms.CrossEntropy2), ("loss_dice1", terms.Dice1), ("loss_dice2", terms.Dice2),
            ("loss_sup1", terms.Supervised1), ("loss_sup2", terms.Supervised2), ("proto_loss1", terms.Separation1), ("proto_loss2", terms.Separation2),
            ("gmm_loss1", terms.Gmm1), ("gmm_loss2", terms.Gmm2), ("gmm_loss1_unlabeled", terms.GmmUnlabeled1), ("gmm_loss2_unlabeled", terms.GmmUnlabeled2),
            ("cgmm_consistency", terms.Consistency), ("cps_loss_net1", terms.Cps1), ("cps_loss_net2", terms.Cps2), ("loss_cps", terms.Cps),
            ("model1_loss", terms.Model1), ("model2_loss", terms.Model2), ("total_loss", terms.Total),
        };
        foreach (var (name, value) in pairs) AssertClose(Scalar(s, name), value.item<float>(), name);

        AssertArray("cur_cls_label1", terms.Prototypes1.Presence);
        AssertArray("prototypes1", terms.Prototypes1.Prototypes);
        AssertArray("prototypes2", terms.Prototypes2.Prototypes);
        AssertArray("gmm_res1", terms.Responses1);
        AssertArray("gmm_res2", terms.Responses2);
        AssertArray("gmm_res1_unlabeled", terms.ResponsesUnlabeled1);
        AssertArray("gmm_res2_unlabeled", terms.ResponsesUnlabeled2);
        AssertArray("ktcps_weights_A", tensor(terms.WeightsA));
        AssertArray("ktcps_weights_B", tensor(terms.WeightsB));

        terms.Total.backward();
        AssertArray("grad_out1", out1.grad!);
        AssertArray("grad_out2", out2.grad!);
        AssertArray("grad_rep1", rep1.grad!);
        AssertArray("grad_rep2", rep2.grad!);
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
}
