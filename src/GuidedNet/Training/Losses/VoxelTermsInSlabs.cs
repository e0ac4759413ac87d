using GuidedNet.Runtime;
using static TorchSharp.torch;

namespace GuidedNet.Training.Losses;

/// <summary>
/// The voxel terms of <see cref="GuidedNetLoss"/> through the term files and autograd, on any
/// device: each slab of one sample (both networks stacked on a leading axis) is differentiated on
/// its own, the prototypes a shared leaf, so that the loss never holds more than a slab's graph.
/// Each term enters as its share of the batch mean.
/// </summary>
internal static class VoxelTermsInSlabs
{
    public static VoxelTermResults Differentiate(VoxelTermInputs input, int slabVoxels)
    {
        using var scope = NewDisposeScope();
        int classes = input.NumClasses, labeled = input.Labeled;
        var logits = input.Logits;
        var features = input.Features;
        long batch = logits[0].shape[0], depth = logits[0].shape[2], plane = logits[0].shape[3] * logits[0].shape[4];
        var prototypes = input.Prototypes.detach().requires_grad_(true);                                  // [2, L, K, C]
        var diceIntersect = input.DiceIntersectGradient.reshape(2, classes, 1, 1, 1);
        var dicePredicted = input.DicePredictedGradient.reshape(2, classes, 1, 1, 1);
        double w = input.ConsistencyWeight, lambda = input.Lambda;

        // The slabs tile every sample, so each element is written once: no need to clear.
        var gradLogits = logits.Select(t => empty_like(t)).ToArray();
        var gradFeatures = features.Select(t => empty_like(t)).ToArray();
        var totals = new Dictionary<string, Tensor>();                       // per network: [2]
        void Add(string name, Tensor value)        // inside a slab's scope: the running sums live in the outer one
        {
            var v = value.detach();
            totals[name] = (totals.TryGetValue(name, out var sum) ? sum + v : v.clone()).MoveToOuterDisposeScope();
        }
        long slabDepth = Math.Clamp(slabVoxels / plane, 1, depth);
        var perSample = new long[] { 1, 2, 3 };
        for (long b = 0; b < batch; b++)
        {
            bool isLabeled = b < labeled;
            long pair = isLabeled ? b : b - labeled;        // the labeled sample whose prototypes apply
            for (long d0 = 0; d0 < depth; d0 += slabDepth)
            {
                using var slabScope = NewDisposeScope();
                var slab = TensorIndex.Slice(d0, Math.Min(depth, d0 + slabDepth));
                double share = (Math.Min(depth, d0 + slabDepth) - d0) * plane / input.HalfVoxels;
                var z = stack(logits.Select(t => t[b, .., slab])).requires_grad_(true);             // [2, K, d, H, W]
                var f = stack(features.Select(t => t[b, .., slab])).requires_grad_(true);           // [2, C, d, H, W]
                var mu = prototypes[.., pair];                                                       // [2, K, C]
                var a = input.Presence[pair].expand(2, -1);                                          // [2, K]
                // One log-softmax for the cross-entropies (supervised, CPS) and, exponentiated, the probabilities.
                var logS = z.log_softmax(1);
                var s = logS.exp();
                Tensor total;
                if (isLabeled)
                {
                    var slabLabels = input.Labels[TensorIndex.Slice(b, b + 1), slab].expand(2, -1, -1, -1);  // [2, d, H, W]
                    var slabOneHot = LabelEncoding.OneHot(slabLabels, classes);                            // [2, K, v]
                    var t = slabOneHot.reshape(s.shape);
                    var ce = nn.functional.nll_loss(logS, slabLabels, reduction: nn.Reduction.None).mean(perSample).Times(share);
                    // Dice through its gradient: Σ ∂Dice/∂Σpt · pt + ∂Dice/∂Σp² · p².
                    var diceShare = (s * (diceIntersect * t + dicePredicted * s)).sum();
                    var responses = CgmmResponses.Labeled(f, mu, a);
                    var l1 = GmmLosses.PredictionFit(responses, s, a).mean(perSample).Times(share);
                    var l2 = GmmLosses.ResponseFit(slabOneHot, responses, a).mean(perSample).Times(share);
                    // Consistency enters both networks' losses: 2λ in the total.
                    var cons = CgmmConsistency.Compute(responses[0].unsqueeze(0), responses[1].unsqueeze(0), w).Times(share);
                    total = (ce.sum() + diceShare).Times(0.5) + (l1.sum() + l2.sum()).Times(lambda) + cons.Times(2 * lambda);
                    Add("ce", ce);
                    Add("gmm_l1", l1);
                    Add("gmm_l2", l2);
                    Add("cons", cons);
                }
                else
                {
                    var l1 = GmmLosses.PredictionFit(CgmmResponses.Unlabeled(f, mu), s, a).mean(perSample).Times(share);
                    total = l1.sum().Times(lambda);
                    Add("gmm_u", l1);
                }
                var cps = WeightedCps.WeightedSums(logS, input.PseudoLabels[.., b, slab], input.CpsWeights) / input.CpsTotals;
                total = total + cps.sum().Times(w);
                Add("cps", cps);
                total.backward();
                for (int n = 0; n < 2; n++)
                {
                    gradLogits[n][b, .., slab].copy_(z.grad![n]);
                    gradFeatures[n][b, .., slab].copy_(f.grad![n]);
                }
            }
        }

        double[] PerNetwork(string name) => totals[name].to(ScalarType.Float64).cpu().data<double>().ToArray();
        return new VoxelTermResults(
            CrossEntropy: PerNetwork("ce"), GmmL1: PerNetwork("gmm_l1"), GmmL2: PerNetwork("gmm_l2"),
            GmmUnlabeled: PerNetwork("gmm_u"), Cps: PerNetwork("cps"), Consistency: totals["cons"].item<float>(),
            GradLogits: gradLogits.Select(t => t.MoveToOuterDisposeScope()).ToArray(),
            GradFeatures: gradFeatures.Select(t => t.MoveToOuterDisposeScope()).ToArray(),
            GradPrototypes: prototypes.grad!.detach().MoveToOuterDisposeScope());
    }
}
