using static TorchSharp.torch;

namespace GuidedNet.Training.Losses;

/// <summary>Every term of one training step, as tensors (for backward) and for logging.</summary>
public sealed record LossTerms
{
    public required Tensor Total { get; init; }
    public required Tensor Supervised1 { get; init; }
    public required Tensor Supervised2 { get; init; }
    public required Tensor CrossEntropy1 { get; init; }
    public required Tensor CrossEntropy2 { get; init; }
    public required Tensor Dice1 { get; init; }
    public required Tensor Dice2 { get; init; }
    public required Tensor Separation1 { get; init; }
    public required Tensor Separation2 { get; init; }
    public required Tensor Gmm1 { get; init; }
    public required Tensor Gmm2 { get; init; }
    public required Tensor GmmUnlabeled1 { get; init; }
    public required Tensor GmmUnlabeled2 { get; init; }
    public required Tensor Consistency { get; init; }
    public required Tensor Cps1 { get; init; }
    public required Tensor Cps2 { get; init; }
    public required Tensor Cps { get; init; }
    public required Tensor Model1 { get; init; }
    public required Tensor Model2 { get; init; }
    public required double ConsistencyWeight { get; init; }
    public required float[] WeightsA { get; init; }
    public required float[] WeightsB { get; init; }
    public required ClassPrototypes Prototypes1 { get; init; }
    public required ClassPrototypes Prototypes2 { get; init; }
    public required Tensor Responses1 { get; init; }
    public required Tensor Responses2 { get; init; }
    public required Tensor ResponsesUnlabeled1 { get; init; }
    public required Tensor ResponsesUnlabeled2 { get; init; }

    /// <summary>Scalar values by name, for training.json and the progress display.</summary>
    public IReadOnlyDictionary<string, double> Values() => new Dictionary<string, double>
    {
        ["total"] = Total.item<float>(),
        ["sup1"] = Supervised1.item<float>(), ["sup2"] = Supervised2.item<float>(),
        ["gmm1"] = Gmm1.item<float>(), ["gmm2"] = Gmm2.item<float>(),
        ["gmm1_u"] = GmmUnlabeled1.item<float>(), ["gmm2_u"] = GmmUnlabeled2.item<float>(),
        ["proto1"] = Separation1.item<float>(), ["proto2"] = Separation2.item<float>(),
        ["cons"] = Consistency.item<float>(), ["cps"] = Cps.item<float>(),
    };
}

/// <summary>
/// The full GuidedNet objective of reference README §2 for two networks on a batch whose first
/// <c>labeled</c> samples carry labels:
/// total = sup1 + λ(gmm1 + gmm1_u + cons) + sup2 + λ(gmm2 + gmm2_u + cons) + w·cps,
/// with w = consistency · sigmoid_rampup(iteration // 150, 200) (<see cref="Schedules.ConsistencyWeight"/>).
/// </summary>
public sealed class GuidedNetLoss
{
    public GuidedNetLoss(int numClasses, double lambda = 0.3, double consistency = 0.1, int rampupIterations = Schedules.ReferenceRampupIterations)
    {
        NumClasses = numClasses;
        Lambda = lambda;
        Consistency = consistency;
        RampupIterations = rampupIterations;
    }

    public int RampupIterations { get; }

    public int NumClasses { get; }
    public double Lambda { get; }
    public double Consistency { get; }

    /// <param name="logits1">[B, K, D, H, W] of network 1; first <paramref name="labeled"/> samples labeled.</param>
    /// <param name="features1">[B, C, D, H, W] of network 1 ("rep").</param>
    /// <param name="labels">[B, D, H, W]; only the labeled samples are read.</param>
    /// <param name="kt">The shared KT-CPS weight state; updated from network 1, then network 2.</param>
    public LossTerms Compute(Tensor logits1, Tensor features1, Tensor logits2, Tensor features2, Tensor labels,
        int labeled, KtCpsWeights kt, int iteration)
    {
        long batch = logits1.shape[0];
        if (labeled <= 0 || labeled >= batch)
            throw new ArgumentException($"a GuidedNet batch needs labeled and unlabeled samples: {labeled} labeled of {batch}");
        var l = TensorIndex.Slice(0, labeled);
        var u = TensorIndex.Slice(labeled, batch);
        var y = labels[l];
        // Shared by every term of both networks: [L, K, V] one-hot labels and the softmaxes.
        var oneHot = LabelEncoding.OneHot(y, NumClasses);
        var soft1 = logits1.softmax(1);
        var soft2 = logits2.softmax(1);

        var (sup1, ce1, dice1) = SupervisedLoss.Compute(logits1[l], y, soft1[l], oneHot);
        var (sup2, ce2, dice2) = SupervisedLoss.Compute(logits2[l], y, soft2[l], oneHot);

        var (gmm1, gmm1U, p1, r1, r1U) = Gmm(soft1, features1, y, oneHot, l, u);
        var (gmm2, gmm2U, p2, r2, r2U) = Gmm(soft2, features2, y, oneHot, l, u);

        double w = Schedules.ConsistencyWeight(iteration, Consistency, RampupIterations);
        var cons = CgmmConsistency.Compute(r1, r2, w);

        var weightsA = kt.Update(logits1[l], y);
        var weightsB = kt.Update(logits2[l], y);
        var (cps, cps1, cps2) = WeightedCps.Compute(logits1, logits2, tensor(weightsA), tensor(weightsB));

        var model1 = sup1 + Lambda * (gmm1 + gmm1U + cons);
        var model2 = sup2 + Lambda * (gmm2 + gmm2U + cons);
        return new LossTerms
        {
            Total = model1 + model2 + w * cps,
            Supervised1 = sup1, Supervised2 = sup2, CrossEntropy1 = ce1, CrossEntropy2 = ce2, Dice1 = dice1, Dice2 = dice2,
            Separation1 = p1.SeparationLoss, Separation2 = p2.SeparationLoss,
            Gmm1 = gmm1, Gmm2 = gmm2, GmmUnlabeled1 = gmm1U, GmmUnlabeled2 = gmm2U,
            Consistency = cons, Cps1 = cps1, Cps2 = cps2, Cps = cps, Model1 = model1, Model2 = model2,
            ConsistencyWeight = w, WeightsA = weightsA, WeightsB = weightsB,
            Prototypes1 = p1, Prototypes2 = p2, Responses1 = r1, Responses2 = r2, ResponsesUnlabeled1 = r1U, ResponsesUnlabeled2 = r2U,
        };
    }

    /// <summary>Labeled GMM loss (+ separation) and unlabeled GMM loss of one network.</summary>
    private (Tensor Labeled, Tensor Unlabeled, ClassPrototypes Prototypes, Tensor Responses, Tensor ResponsesUnlabeled) Gmm(
        Tensor probabilities, Tensor features, Tensor labels, Tensor oneHot, TensorIndex l, TensorIndex u)
    {
        var prototypes = ClassPrototypes.Compute(features[l], labels, NumClasses, oneHot);
        var responses = CgmmResponses.Labeled(features[l], prototypes.Prototypes, prototypes.Presence);
        var labeledLoss = GmmLosses.Labeled(probabilities[l], responses, prototypes.Presence, labels, oneHot) + prototypes.SeparationLoss;
        var responsesU = CgmmResponses.Unlabeled(features[u], prototypes.Prototypes);
        var unlabeledLoss = GmmLosses.Unlabeled(probabilities[u], responsesU, prototypes.Presence);
        return (labeledLoss, unlabeledLoss, prototypes, responses, responsesU);
    }
}
