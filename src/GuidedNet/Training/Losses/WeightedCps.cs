using static TorchSharp.torch;

namespace GuidedNet.Training.Losses;

/// <summary>
/// Knowledge-transfer cross pseudo supervision (reference README §2): each network's logits
/// against the other's argmax, with class-weighted cross-entropy Σ w_y·ce / Σ w_y over the whole
/// batch. Network 1 is weighted with B (the state after both updates), network 2 with A.
/// </summary>
public static class WeightedCps
{
    /// <summary>
    /// Per sample, Σ_v w[ŷ_v]·ce(logits_v, ŷ_v) from the log-probabilities (log_softmax of the logits,
    /// [B, K, D, H, W]) against the other network's argmax ŷ [B, D, H, W], with class weights [B, K]
    /// (each sample may use its own) → [B]. Log-probabilities, so that the caller's other terms share them.
    /// </summary>
    public static Tensor WeightedSums(Tensor logProbabilities, Tensor pseudoLabels, Tensor classWeights)
    {
        long b = logProbabilities.shape[0];
        var ce = nn.functional.nll_loss(logProbabilities, pseudoLabels, reduction: nn.Reduction.None).reshape(b, -1);
        return (ce * classWeights.gather(1, pseudoLabels.reshape(b, -1))).sum(1);
    }

    /// <summary>Σ_v w[ŷ_v] over all voxels of ŷ (any shape), with class weights [K]: the normaliser of the weighted mean.</summary>
    public static Tensor WeightTotal(Tensor pseudoLabels, Tensor classWeights) =>
        classWeights.to(pseudoLabels.device).index_select(0, pseudoLabels.reshape(-1)).sum();
}
