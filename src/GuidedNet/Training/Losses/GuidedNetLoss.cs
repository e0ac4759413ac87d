using GuidedNet.Runtime;
using static TorchSharp.torch;

namespace GuidedNet.Training.Losses;

/// <summary>
/// One step of the GuidedNet objective: every term's value, the KT-CPS weights it used, and the
/// gradients of the total with respect to both networks' outputs (shapes of the outputs).
/// </summary>
public sealed record LossStep(
    IReadOnlyDictionary<string, double> Values,
    double ConsistencyWeight,
    float[] WeightsA, float[] WeightsB,
    Tensor GradLogits1, Tensor GradFeatures1, Tensor GradLogits2, Tensor GradFeatures2) : IDisposable
{
    public double Total => Values["total"];

    public void Dispose()
    {
        GradLogits1.Dispose();
        GradFeatures1.Dispose();
        GradLogits2.Dispose();
        GradFeatures2.Dispose();
    }
}

/// <summary>
/// The full GuidedNet objective of reference README §2 for two networks on a batch whose first
/// <c>labeled</c> samples carry labels:
/// total = sup1 + λ(gmm1 + gmm1_u + cons) + sup2 + λ(gmm2 + gmm2_u + cons) + w·cps,
/// with w = consistency · sigmoid_rampup(iteration // 150, 200) (<see cref="Schedules.ConsistencyWeight"/>).
///
/// Evaluated in pieces, so that the loss never holds more than a slab of one sample: held whole,
/// its intermediates and their autograd graph were ~1.2 GB at the benchmark's batch, on top of both
/// networks' activations. Every term is a voxel mean or sum once a few batch quantities are fixed,
/// so the batch quantities come first (class presence and prototypes, the Dice sums, the KT-CPS
/// weights, both networks' argmax and the weighted-CE normalisers); then each slab's terms are
/// differentiated on their own, with the prototypes as shared leaves and the batch-coupled terms
/// (Dice, separation) entering through their exact gradients; last, the prototypes' accumulated
/// gradient is carried back to the labeled features. The sum of the pieces is the reference's
/// loss, and its gradients are the reference's gradients.
/// </summary>
public sealed class GuidedNetLoss
{
    /// <summary>
    /// Voxels per slab: 0.5 MB per [1, K, slab] tensor at K = 14, so a slab's intermediates stay in
    /// cache (measured on the benchmark's batch: 0.74 s per loss at 8 k voxels, 0.88 s at 32 k, 0.80 s
    /// at a whole 128 k sample).
    /// </summary>
    public const int DefaultSlabVoxels = 1 << 13;

    public GuidedNetLoss(int numClasses, double lambda = 0.3, double consistency = 0.1,
        int rampupIterations = Schedules.ReferenceRampupIterations, int slabVoxels = DefaultSlabVoxels)
    {
        if (slabVoxels < 1) throw new ArgumentOutOfRangeException(nameof(slabVoxels));
        NumClasses = numClasses;
        Lambda = lambda;
        Consistency = consistency;
        RampupIterations = rampupIterations;
        SlabVoxels = slabVoxels;
    }

    public int NumClasses { get; }
    public double Lambda { get; }
    public double Consistency { get; }
    public int RampupIterations { get; }
    public int SlabVoxels { get; }

    /// <param name="logits1">[B, K, D, H, W] of network 1; first <paramref name="labeled"/> samples labeled.</param>
    /// <param name="features1">[B, C, D, H, W] of network 1 ("rep").</param>
    /// <param name="labels">[B, D, H, W]; only the labeled samples are read.</param>
    /// <param name="kt">The shared KT-CPS weight state; updated from network 1, then network 2.</param>
    public LossStep Compute(Tensor logits1, Tensor features1, Tensor logits2, Tensor features2, Tensor labels,
        int labeled, KtCpsWeights kt, int iteration)
    {
        long batch = logits1.shape[0];
        if (labeled <= 0 || labeled >= batch)
            throw new ArgumentException($"a GuidedNet batch needs labeled and unlabeled samples: {labeled} labeled of {batch}");
        if (batch - labeled != labeled)
            throw new ArgumentException($"the reference pairs unlabeled sample i with labeled sample i: {labeled} labeled and {batch - labeled} unlabeled");

        var outputs = new[] { (Logits: logits1.detach(), Features: features1.detach()), (Logits: logits2.detach(), Features: features2.detach()) };
        var values = new Dictionary<string, double>();
        using var scope = NewDisposeScope();
        var y = labels.detach()[TensorIndex.Slice(0, labeled)];
        double w = Schedules.ConsistencyWeight(iteration, Consistency, RampupIterations);

        // 1. Batch quantities (no graph).
        var nets = new NetworkState[2];
        float[] weightsA, weightsB;
        Tensor pseudo1, pseudo2, cpsTotal1, cpsTotal2;
        long valid;
        using (no_grad())
        using (var batchScope = NewDisposeScope())
        {
            // Its own scope: the one-hot labels and softmaxes of the labeled half must not outlive it.
            var oneHot = LabelEncoding.OneHot(y, NumClasses);                                         // [L, K, V]
            for (int n = 0; n < 2; n++)
            {
                var (z, f) = outputs[n];
                var prototypes = ClassPrototypes.Compute(f[TensorIndex.Slice(0, labeled)], y, NumClasses, oneHot);
                var (intersect, predicted, target) = SupervisedLoss.DiceSums(z[TensorIndex.Slice(0, labeled)].softmax(1), oneHot, NumClasses);
                nets[n] = new NetworkState(prototypes.Presence.MoveToOuterDisposeScope(),
                    prototypes.Prototypes.detach().requires_grad_(true).MoveToOuterDisposeScope(),
                    intersect.MoveToOuterDisposeScope(), predicted.MoveToOuterDisposeScope(), target.MoveToOuterDisposeScope());
            }
            weightsA = kt.Update(outputs[0].Logits[TensorIndex.Slice(0, labeled)], y);
            weightsB = kt.Update(outputs[1].Logits[TensorIndex.Slice(0, labeled)], y);
            pseudo1 = Reductions.ArgMax(outputs[0].Logits, 1).MoveToOuterDisposeScope();
            pseudo2 = Reductions.ArgMax(outputs[1].Logits, 1).MoveToOuterDisposeScope();
            // Network 1 learns network 2's argmax with weights B; network 2 network 1's with weights A.
            cpsTotal1 = WeightedCps.WeightTotal(pseudo2, tensor(weightsB)).MoveToOuterDisposeScope();
            cpsTotal2 = WeightedCps.WeightTotal(pseudo1, tensor(weightsA)).MoveToOuterDisposeScope();
            valid = (y < NumClasses).sum().item<long>();
        }
        var classWeights = new[] { tensor(weightsB, device: logits1.device), tensor(weightsA, device: logits1.device) };
        var pseudoTargets = new[] { pseudo2, pseudo1 };
        var cpsTotals = new[] { cpsTotal1.item<float>(), cpsTotal2.item<float>() };

        // Batch-coupled terms: exact values here; in the slabs through their gradients (dTerm/dSum · sum).
        var diceGradients = new (Tensor Intersect, Tensor Predicted)[2];
        var separationGradients = new Tensor[2];
        for (int n = 0; n < 2; n++)
        {
            var state = nets[n];
            var intersect = state.Intersect.requires_grad_(true);
            var predicted = state.Predicted.requires_grad_(true);
            var dice = SupervisedLoss.DiceFromSums(intersect, predicted, state.Target);
            var diceGrads = autograd.grad(new[] { dice }, new[] { intersect, predicted });
            diceGradients[n] = (diceGrads[0], diceGrads[1]);
            var separation = ClassPrototypes.Separation(state.Prototypes, state.Presence);
            separationGradients[n] = autograd.grad(new[] { separation }, new[] { state.Prototypes })[0];
            values[$"dice{n + 1}"] = dice.item<float>();
            values[$"proto{n + 1}"] = separation.item<float>();
        }

        // 2. Slabs: each term as its share of the batch mean, differentiated on its own.
        // The slabs tile every sample, so each element is written once: no need to clear.
        var grads = outputs.Select(o => (Logits: empty_like(o.Logits), Features: empty_like(o.Features))).ToArray();
        var sums = new Dictionary<string, double>();
        void Add(string name, Tensor value) => sums[name] = sums.GetValueOrDefault(name) + value.item<float>();
        long depth = logits1.shape[2], plane = logits1.shape[3] * logits1.shape[4];
        long slabDepth = Math.Clamp(SlabVoxels / plane, 1, depth);
        double halfVoxels = (double)labeled * depth * plane;    // voxels in each half of the batch
        for (long b = 0; b < batch; b++)
        {
            bool isLabeled = b < labeled;
            long pair = isLabeled ? b : b - labeled;        // the labeled sample whose prototypes apply
            var p = TensorIndex.Slice(pair, pair + 1);
            for (long d0 = 0; d0 < depth; d0 += slabDepth)
            {
                using var slabScope = NewDisposeScope();
                var sample = TensorIndex.Slice(b, b + 1);
                var slab = TensorIndex.Slice(d0, Math.Min(depth, d0 + slabDepth));
                double share = (Math.Min(depth, d0 + slabDepth) - d0) * plane / halfVoxels;
                var z = new Tensor[2];
                var f = new Tensor[2];
                var responses = new Tensor[2];
                var total = zeros(1, device: logits1.device).sum();
                Tensor? slabLabels = null, slabOneHot = null;
                if (isLabeled)
                {
                    slabLabels = y[sample, slab];
                    slabOneHot = LabelEncoding.OneHot(slabLabels, NumClasses);
                }
                for (int n = 0; n < 2; n++)
                {
                    var state = nets[n];
                    z[n] = outputs[n].Logits[sample, .., slab].detach().requires_grad_(true);
                    f[n] = outputs[n].Features[sample, .., slab].detach().requires_grad_(true);
                    var s = z[n].softmax(1);
                    var presence = state.Presence[p];
                    string net = (n + 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
                    if (isLabeled)
                    {
                        var ce = nn.functional.cross_entropy(z[n], slabLabels!) * share;
                        var (intersect, predicted, _) = SupervisedLoss.DiceSums(s, slabOneHot!, NumClasses);
                        var diceShare = (diceGradients[n].Intersect * intersect).sum() + (diceGradients[n].Predicted * predicted).sum();
                        responses[n] = CgmmResponses.Labeled(f[n], state.Prototypes[p], presence);
                        var l1 = GmmLosses.PredictionFit(responses[n], s, presence).mean() * share;
                        var l2 = GmmLosses.ResponseFit(slabOneHot!, responses[n], presence).masked_select(slabLabels! < NumClasses).sum() / Math.Max(1, valid);
                        total = total + 0.5 * (ce + diceShare) + Lambda * (l1 + l2);
                        Add("ce" + net, ce);
                        Add("gmm_l1" + net, l1);
                        Add("gmm_l2" + net, l2);
                    }
                    else
                    {
                        var unlabeledResponses = CgmmResponses.Unlabeled(f[n], state.Prototypes[p]);
                        var l1 = GmmLosses.PredictionFit(unlabeledResponses, s, presence).mean() * share;
                        total = total + Lambda * l1;
                        Add("gmm" + net + "_u", l1);
                    }
                    var cps = WeightedCps.WeightedSum(z[n], pseudoTargets[n][sample, slab], classWeights[n]) / cpsTotals[n];
                    total = total + w * cps;
                    Add("cps" + net, cps);
                }
                if (isLabeled)
                {
                    // Consistency enters both networks' losses: 2λ in the total.
                    var cons = CgmmConsistency.Compute(responses[0], responses[1], w) * share;
                    total = total + 2 * Lambda * cons;
                    Add("cons", cons);
                }
                total.backward();
                for (int n = 0; n < 2; n++)
                {
                    grads[n].Logits[sample, .., slab].copy_(z[n].grad!);
                    grads[n].Features[sample, .., slab].copy_(f[n].grad!);
                }
            }
        }

        // 3. The prototypes' gradient (slabs + λ·separation) back to the labeled features they average.
        for (int n = 0; n < 2; n++)
        {
            var gradPrototypes = nets[n].Prototypes.grad! + Lambda * separationGradients[n];           // [L, K, C]
            for (long b = 0; b < labeled; b++)
            {
                using var sampleScope = NewDisposeScope();
                var sample = TensorIndex.Slice(b, b + 1);
                var features = outputs[n].Features[sample].detach().requires_grad_(true);
                var prototypes = ClassPrototypes.Compute(features, y[sample], NumClasses).Prototypes;
                prototypes.backward(new[] { gradPrototypes[sample] });
                grads[n].Features[sample].add_(features.grad!);
            }
        }

        for (int n = 1; n <= 2; n++)
        {
            double sup = 0.5 * (sums["ce" + n] + values["dice" + n]);
            double gmm = values["proto" + n] + sums["gmm_l1" + n] + sums["gmm_l2" + n];
            values["ce" + n] = sums["ce" + n];
            values["sup" + n] = sup;
            values["gmm" + n] = gmm;
            values[$"gmm{n}_u"] = sums[$"gmm{n}_u"];
            values["cps" + n] = sums["cps" + n];
            values["model" + n] = sup + Lambda * (gmm + sums[$"gmm{n}_u"] + sums["cons"]);
        }
        values["cons"] = sums["cons"];
        values["cps"] = sums["cps1"] + sums["cps2"];
        values["total"] = values["model1"] + values["model2"] + w * values["cps"];
        return new LossStep(values, w, weightsA, weightsB,
            grads[0].Logits.MoveToOuterDisposeScope(), grads[0].Features.MoveToOuterDisposeScope(),
            grads[1].Logits.MoveToOuterDisposeScope(), grads[1].Features.MoveToOuterDisposeScope());
    }

    /// <summary>A network's batch quantities: presence [L, K], prototypes [L, K, C] (a leaf gathering the slabs' gradients), Dice sums [K].</summary>
    private sealed record NetworkState(Tensor Presence, Tensor Prototypes, Tensor Intersect, Tensor Predicted, Tensor Target);
}
