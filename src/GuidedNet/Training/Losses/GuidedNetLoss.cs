using TorchSharp;
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
    public void Dispose()
    {
        GradLogits1.Dispose();
        GradFeatures1.Dispose();
        GradLogits2.Dispose();
        GradFeatures2.Dispose();
    }
}

/// <summary>How the voxel terms of <see cref="GuidedNetLoss"/> are evaluated.</summary>
public enum VoxelTermsPath
{
    /// <summary>The CPU kernel for float32 CPU tensors, autograd slabs elsewhere.</summary>
    Auto,
    /// <summary><see cref="VoxelTermsCpuKernel"/>: one pass per voxel with hand-derived gradients (CPU only).</summary>
    CpuKernel,
    /// <summary><see cref="VoxelTermsInSlabs"/>: the term files through autograd, slab by slab (any device).</summary>
    Autograd,
}

/// <summary>
/// The full GuidedNet objective of reference README §2 for two networks on a batch whose first
/// <c>labeled</c> samples carry labels:
/// total = sup1 + λ(gmm1 + gmm1_u + cons) + sup2 + λ(gmm2 + gmm2_u + cons) + w·cps,
/// with w = consistency · sigmoid_rampup(iteration // 150, 200) (<see cref="Schedules.ConsistencyWeight"/>).
///
/// Evaluated in pieces, so that the loss never holds the batch's intermediates (held whole with
/// their autograd graph they were ~1.2 GB at the benchmark's batch, on top of both networks'
/// activations). Every term is a voxel mean or sum once a few batch quantities are fixed, so the
/// batch quantities come first (class presence and prototypes, the Dice sums, the KT-CPS weights,
/// both networks' argmax and the weighted-CE normalisers); then the voxel terms are differentiated
/// with the prototypes fixed and the batch-coupled terms (Dice, separation) entering through their
/// exact gradients (<see cref="VoxelTermsPath"/>); last, the prototypes' gradient is carried back
/// to the labeled features. The sum of the pieces is the reference's loss, and its gradients are
/// the reference's gradients.
/// </summary>
public sealed class GuidedNetLoss
{
    /// <summary>
    /// Voxels per autograd slab: 1.8 MB per [2 networks, K, slab] tensor at K = 14, so that a slab's
    /// intermediates stay in cache (measured on the benchmark's batch: 0.67–0.72 s per loss at 16 k
    /// voxels, 0.68–0.76 s at 8 k, 0.72–1.05 s at 4 k; 0.88 s at 32 k before the networks were paired).
    /// </summary>
    public const int DefaultSlabVoxels = 1 << 14;

    public GuidedNetLoss(int numClasses, double lambda = 0.3, double consistency = 0.1,
        int rampupIterations = Schedules.ReferenceRampupIterations, int slabVoxels = DefaultSlabVoxels,
        VoxelTermsPath path = VoxelTermsPath.Auto)
    {
        if (slabVoxels < 1) throw new ArgumentOutOfRangeException(nameof(slabVoxels));
        NumClasses = numClasses;
        Lambda = lambda;
        Consistency = consistency;
        RampupIterations = rampupIterations;
        SlabVoxels = slabVoxels;
        Path = path;
    }

    public int NumClasses { get; }
    public double Lambda { get; }
    public double Consistency { get; }
    public int RampupIterations { get; }
    public int SlabVoxels { get; }
    public VoxelTermsPath Path { get; }

    private bool UsesCpuKernel(Tensor logits, Tensor features) => Path switch
    {
        VoxelTermsPath.CpuKernel => true,
        VoxelTermsPath.Autograd => false,
        _ => VoxelTermsCpuKernel.Supports(logits, features),
    };

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

        using var scope = NewDisposeScope();
        var all = TensorIndex.Slice(0, labeled);
        var outputs = new[] { (Logits: logits1.detach(), Features: features1.detach()), (Logits: logits2.detach(), Features: features2.detach()) };
        var y = labels.detach()[all];
        var device = logits1.device;
        double w = Schedules.ConsistencyWeight(iteration, Consistency, RampupIterations);
        var values = new Dictionary<string, double>();

        // 1. Batch quantities (no graph). The two networks are stacked along a leading axis
        //    (network 1 then 2): the voxel terms evaluate both in one pass.
        Tensor oneHot, presence, prototypes, pseudoLabels, cpsWeights, cpsTotals;
        Tensor[] diceSums;
        float[] weightsA, weightsB;
        using (no_grad())
        using (var batchScope = NewDisposeScope())
        {
            // The reference's cross-entropy has no ignore value: a label outside the classes is an
            // error, refused before the KT-CPS state moves. Every labeled voxel is then valid, so
            // L2's mean over valid voxels is a mean over the labeled half.
            using var classes = NumClasses.ToScalar();
            long outside = y.ge(classes).sum().item<long>();
            if (outside > 0)
                throw new ArgumentException($"{outside} labeled voxels hold a label ≥ {NumClasses}, the number of classes");
            // Its own scope: the softmaxes and their products must not outlive it.
            oneHot = LabelEncoding.OneHot(y, NumClasses).MoveToOuterDisposeScope();                          // [L, K, V]
            presence = ClassPrototypes.PresenceOf(oneHot).MoveToOuterDisposeScope();                         // [L, K]
            prototypes = stack(outputs.Select(o => ClassPrototypes.Average(o.Features[all], oneHot)))         // [2, L, K, C]
                .requires_grad_(true).MoveToOuterDisposeScope();
            var sums = outputs.Select(o => SupervisedLoss.DiceSums(o.Logits[all].softmax(1), oneHot, NumClasses)).ToList();
            diceSums = new[] { stack(sums.Select(t => t.Intersect)), stack(sums.Select(t => t.Predicted)), stack(sums.Select(t => t.Target)) }
                .Select(t => t.MoveToOuterDisposeScope()).ToArray();                                           // [2, K] each
            var predicted1 = Reductions.ArgMax(outputs[0].Logits, 1);                                        // [B, D, H, W]
            var predicted2 = Reductions.ArgMax(outputs[1].Logits, 1);
            weightsA = kt.Update(predicted1[all], y);
            weightsB = kt.Update(predicted2[all], y);
            // Network 1 learns network 2's argmax with weights B; network 2 network 1's with weights A.
            pseudoLabels = stack(new[] { predicted2, predicted1 }).MoveToOuterDisposeScope();                // [2, B, D, H, W]
            cpsWeights = stack(new[] { tensor(weightsB, device: device), tensor(weightsA, device: device) }).MoveToOuterDisposeScope(); // [2, K]
            // No pseudo-label carrying weight (both networks predict only the most frequent class,
            // whose KT-CPS weight is 0): the reference's weighted mean is 0/0 = NaN there. The term
            // has nothing to learn from and contributes nothing: dividing by +∞ gives 0 and zero gradients.
            var totals = stack(new[] { WeightedCps.WeightTotal(pseudoLabels[0], cpsWeights[0]), WeightedCps.WeightTotal(pseudoLabels[1], cpsWeights[1]) });
            cpsTotals = where(totals.gt(Scalars.Zero), totals, float.PositiveInfinity).MoveToOuterDisposeScope();                                                                     // [2]
        }

        // Batch-coupled terms: exact values here; per voxel through their gradients (∂term/∂sum · sum).
        var intersect = diceSums[0].requires_grad_(true);
        var predicted = diceSums[1].requires_grad_(true);
        var dice = new[] { 0, 1 }.Select(n => SupervisedLoss.DiceFromSums(intersect[n], predicted[n], diceSums[2][n])).ToArray();
        var diceGradients = Gradients.Of(new[] { dice[0] + dice[1] }, new[] { intersect, predicted });        // [2, K] each
        var separation = new[] { 0, 1 }.Select(n => ClassPrototypes.Separation(prototypes[n], presence)).ToArray();
        var separationGradient = Gradients.Of(new[] { separation[0] + separation[1] }, new[] { prototypes })[0]; // [2, L, K, C]
        for (int n = 0; n < 2; n++)
        {
            values[$"dice{n + 1}"] = dice[n].item<float>();
            values[$"proto{n + 1}"] = separation[n].item<float>();
        }

        // 2. The voxel terms, their values and gradients.
        var inputs = new VoxelTermInputs(
            outputs.Select(o => o.Logits).ToArray(), outputs.Select(o => o.Features).ToArray(), y, presence,
            prototypes.detach(), pseudoLabels, cpsWeights, cpsTotals, diceGradients[0], diceGradients[1], w, Lambda);
        var terms = UsesCpuKernel(logits1, features1)
            ? VoxelTermsCpuKernel.Differentiate(inputs)
            : VoxelTermsInSlabs.Differentiate(inputs, SlabVoxels);

        // 3. The prototypes' gradient (voxel terms + λ·separation) back to the labeled features they average.
        var gradPrototypes = terms.GradPrototypes + separationGradient.Times(Lambda);                             // [2, L, K, C]
        for (int n = 0; n < 2; n++)
        {
            var features = outputs[n].Features[all].detach().requires_grad_(true);
            ClassPrototypes.Average(features, oneHot).backward(new[] { gradPrototypes[n] });
            terms.GradFeatures[n][all].add_(features.grad!);
        }

        double consistency = terms.Consistency;
        for (int n = 0; n < 2; n++)
        {
            string net = (n + 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
            double ce = terms.CrossEntropy[n], sup = 0.5 * (ce + values["dice" + net]);
            double gmm = values["proto" + net] + terms.GmmL1[n] + terms.GmmL2[n], gmmU = terms.GmmUnlabeled[n];
            values["ce" + net] = ce;
            values["sup" + net] = sup;
            values["gmm" + net] = gmm;
            values[$"gmm{net}_u"] = gmmU;
            values["cps" + net] = terms.Cps[n];
            values["model" + net] = sup + Lambda * (gmm + gmmU + consistency);
        }
        values["cons"] = consistency;
        values["cps"] = values["cps1"] + values["cps2"];
        values["total"] = values["model1"] + values["model2"] + w * values["cps"];
        return new LossStep(values, w, weightsA, weightsB,
            terms.GradLogits[0].MoveToOuterDisposeScope(), terms.GradFeatures[0].MoveToOuterDisposeScope(),
            terms.GradLogits[1].MoveToOuterDisposeScope(), terms.GradFeatures[1].MoveToOuterDisposeScope());
    }
}
