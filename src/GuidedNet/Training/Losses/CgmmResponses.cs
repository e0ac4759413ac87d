using GuidedNet.Runtime;
using static TorchSharp.torch;

namespace GuidedNet.Training.Losses;

/// <summary>
/// CGMM responses (reference README §2; tools.GMM and tools.GMM_predict): how strongly each voxel's
/// feature matches each class prototype, r[b, k, v] = exp(−(mean_c |f[b, c, v] − μ[b, k, c]|)²).
///
/// The reference broadcasts features against prototypes into a [B, K, C, D, H, W] tensor — at the
/// paper's patch and batch that tensor is what forced two GPUs. Here the distance is an L1
/// <c>cdist</c> between the voxels' feature vectors and the prototypes, whose forward and backward
/// never hold more than [B, V, K]; values and gradients are the same.
/// </summary>
public static class CgmmResponses
{
    /// <summary>Labeled samples: responses masked by class presence. features [B, C, D, H, W], prototypes [B, K, C], presence [B, K] → [B, K, D, H, W].</summary>
    public static Tensor Labeled(Tensor features, Tensor prototypes, Tensor presence)
    {
        var distance = MeanAbsDistance(features, prototypes);
        var mask = presence.reshape(presence.shape[0], presence.shape[1], 1, 1, 1);
        // The reference zeroes the distance of absent classes before exp, then the response.
        return exp(-(distance * mask).pow(Scalars.Two)) * mask;
    }

    /// <summary>Unlabeled sample i against labeled sample i's prototypes, no class mask. → [B, K, D, H, W].</summary>
    public static Tensor Unlabeled(Tensor features, Tensor prototypes)
    {
        if (features.shape[0] != prototypes.shape[0])
            throw new ArgumentException($"the reference pairs unlabeled sample i with labeled sample i: {features.shape[0]} unlabeled vs {prototypes.shape[0]} labeled samples");
        var distance = MeanAbsDistance(features, prototypes);
        return exp(-distance.pow(Scalars.Two));
    }

    /// <summary>mean_c |f[b, c, v] − μ[b, k, c]| → [B, K, D, H, W].</summary>
    public static Tensor MeanAbsDistance(Tensor features, Tensor prototypes)
    {
        var shape = features.shape;
        long channels = shape[1], classes = prototypes.shape[1];
        var voxels = features.reshape(shape[0], channels, -1).transpose(1, 2);   // [B, V, C]
        var distance = cdist(voxels, prototypes, 1.0).Over(channels);              // [B, V, K]
        return distance.transpose(1, 2).reshape(shape[0], classes, shape[2], shape[3], shape[4]);
    }
}
