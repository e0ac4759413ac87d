using static TorchSharp.torch;

namespace GuidedNet.Training.Losses;

/// <summary>
/// What the voxel terms of one GuidedNet step read (<see cref="GuidedNetLoss"/>, phase 2): both
/// networks' outputs and the batch quantities fixed before them. The first L samples are labeled;
/// unlabeled sample L + i uses labeled sample i's prototypes and presence.
/// </summary>
internal sealed record VoxelTermInputs(
    Tensor[] Logits,                 // per network [B, K, D, H, W], detached
    Tensor[] Features,               // per network [B, C, D, H, W], detached
    Tensor Labels,                   // [L, D, H, W] int64, every value < K
    Tensor Presence,                 // [L, K] 0/1
    Tensor Prototypes,               // [2, L, K, C]
    Tensor PseudoLabels,             // [2, B, D, H, W] int64: what network n learns (the other's argmax)
    Tensor CpsWeights,               // [2, K] KT-CPS class weights of network n's CPS term
    Tensor CpsTotals,                // [2] their normalisers Σ_v w[ŷ_v]
    Tensor DiceIntersectGradient,    // [2, K] ∂Dice_n/∂Σpt
    Tensor DicePredictedGradient,    // [2, K] ∂Dice_n/∂Σp²
    double ConsistencyWeight,        // w of the ramp: weighs CPS and scales the CGMM consistency
    double Lambda)
{
    public int NumClasses => (int)Logits[0].shape[1];
    public int Labeled => (int)Labels.shape[0];
    public long Voxels => Labels.shape[1] * Labels.shape[2] * Labels.shape[3];

    /// <summary>Voxels in each half of the batch: the divisor of every voxel mean.</summary>
    public double HalfVoxels => (double)Labeled * Voxels;
}

/// <summary>
/// The voxel terms' values (per network, as in the reference's log) and the gradients of the
/// total with respect to both networks' outputs and the prototypes.
/// </summary>
internal sealed record VoxelTermResults(
    double[] CrossEntropy, double[] GmmL1, double[] GmmL2, double[] GmmUnlabeled, double[] Cps, double Consistency,
    Tensor[] GradLogits, Tensor[] GradFeatures,
    Tensor GradPrototypes);          // [2, L, K, C]
