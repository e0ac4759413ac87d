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
    public static Tensor Labeled(Tensor probabilities, Tensor responses, Tensor presence, Tensor labels, Tensor? oneHot = null)
    {
        long k = probabilities.shape[1];
        var l1 = PresenceWeightedBce(responses, probabilities, presence).mean();
        var target = (oneHot ?? LabelEncoding.OneHot(labels, (int)k)).reshape(probabilities.shape);
        var l2PerVoxel = PresenceWeightedBce(target, responses, presence);           // [B, D, H, W]
        var valid = labels < k;
        var l2 = l2PerVoxel.masked_select(valid).mean();
        return l1 + l2;
    }

    /// <summary>L1 on the unlabeled half, with the class presence of the labeled samples.</summary>
    public static Tensor Unlabeled(Tensor probabilities, Tensor responses, Tensor presence) =>
        PresenceWeightedBce(responses, probabilities, presence).mean();

    /// <summary>Σ_k a·BCE(t, p) / (Σ_k a + 1e-6) → [B, D, H, W].</summary>
    private static Tensor PresenceWeightedBce(Tensor target, Tensor prediction, Tensor presence) =>
        PresenceWeightedBceFunction.apply(target, prediction, presence);

    /// <summary>
    /// The presence-weighted BCE as one autograd node: it keeps only references to its inputs
    /// instead of the ten [B, K, V] intermediates the elementwise formula would save, and its
    /// backward is two fused expressions:
    /// ∂/∂p = −c·(t/(p+ε) − (1−t)/(1−p+ε)), ∂/∂t = −c·(log(p+ε) − log(1−p+ε)), c = g·a/(2(Σa+1e-6)).
    /// </summary>
    private sealed class PresenceWeightedBceFunction : autograd.SingleTensorFunction<PresenceWeightedBceFunction>
    {
        private const double Epsilon = 1e-6;

        public override string Name => nameof(PresenceWeightedBceFunction);

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            Tensor t = (Tensor)vars[0], p = (Tensor)vars[1], presence = (Tensor)vars[2];
            ctx.save_for_backward(new List<Tensor> { t, p, presence });
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            var a = presence.reshape(presence.shape[0], presence.shape[1], 1, 1, 1);
            var bce = (t * log(p + Epsilon)).add_((1 - t).mul_(log(1 - p + Epsilon))).div_(-2);
            return bce.mul_(a).sum(1).div_(a.sum(1) + 1e-6).MoveToOuterDisposeScope();
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
        {
            var saved = ctx.get_saved_variables();
            Tensor t = saved[0], p = saved[1], presence = saved[2];
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            var a = presence.reshape(presence.shape[0], presence.shape[1], 1, 1, 1);
            var c = (gradOutput.unsqueeze(1) * a).div_((a.sum(1, keepdim: true) + 1e-6) * 2);   // [B, K, D, H, W]
            Tensor? gradP = null, gradT = null;
            if (p.requires_grad)
                gradP = (t / (p + Epsilon)).sub_((1 - t).div_(1 - p + Epsilon)).mul_(c).neg_().MoveToOuterDisposeScope();
            if (t.requires_grad)
                gradT = log(p + Epsilon).sub_(log(1 - p + Epsilon)).mul_(c).neg_().MoveToOuterDisposeScope();
            return new List<Tensor> { gradT!, gradP!, null! };
        }
    }
}
