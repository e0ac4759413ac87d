using static TorchSharp.torch;

namespace GuidedNet.Training.Losses;

/// <summary>
/// The labeled and unlabeled GMM losses (reference README §2; tools.cal_gmm_loss, tools.gmm_loss),
/// with BCE(t, p) = −(t·log(p + 1e-6) + (1 − t)·log(1 − p + 1e-6))/2 averaged over present classes.
/// </summary>
public static class GmmLosses
{
    /// <summary>
    /// L1 + L2 on the labeled half: L1 = mean over voxels of Σ_k a·BCE(r, s)/(Σ_k a + 1e-6);
    /// L2 = the same with BCE(onehot(y), r), over voxels whose label is a valid class.
    /// The separation loss is added by the caller. probabilities/responses [B, K, D, H, W], presence [B, K], labels [B, D, H, W].
    /// </summary>
    public static Tensor Labeled(Tensor probabilities, Tensor responses, Tensor presence, Tensor labels)
    {
        long b = probabilities.shape[0], k = probabilities.shape[1];
        var l1 = PresenceWeightedBce(responses, probabilities, presence).mean();
        var target = LabelEncoding.OneHot(labels, (int)k).reshape(probabilities.shape);
        var l2PerVoxel = PresenceWeightedBce(target, responses, presence);           // [B, D, H, W]
        var valid = labels < k;
        var l2 = l2PerVoxel.masked_select(valid).mean();
        return l1 + l2;
    }

    /// <summary>L1 on the unlabeled half, with the class presence of the labeled samples.</summary>
    public static Tensor Unlabeled(Tensor probabilities, Tensor responses, Tensor presence) =>
        PresenceWeightedBce(responses, probabilities, presence).mean();

    /// <summary>Σ_k a·BCE(t, p) / (Σ_k a + 1e-6) → [B, D, H, W].</summary>
    private static Tensor PresenceWeightedBce(Tensor target, Tensor prediction, Tensor presence)
    {
        var a = presence.reshape(presence.shape[0], presence.shape[1], 1, 1, 1);
        var bce = -(target * log(prediction + 1e-6) + (1 - target) * log(1 - prediction + 1e-6)) / 2;
        return (bce * a).sum(1) / (a.sum(1) + 1e-6);
    }
}
