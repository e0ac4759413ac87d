using GuidedNet.Runtime;
using static TorchSharp.torch;

namespace GuidedNet.Training.Losses;

/// <summary>
/// The integrands of the labeled and unlabeled GMM losses (reference README §2; tools.cal_gmm_loss,
/// tools.gmm_loss), with BCE(t, p) = −(t·log(p + 1e-6) + (1 − t)·log(1 − p + 1e-6))/2 averaged over
/// present classes: L1 = mean over voxels of <see cref="PredictionFit"/>, L2 = mean of
/// <see cref="ResponseFit"/> over voxels whose label is a valid class; the unlabeled loss is L1 on
/// the unlabeled half with the labeled samples' presence. <see cref="GuidedNetLoss"/> takes the means.
/// </summary>
public static class GmmLosses
{
    /// <summary>ε inside the BCE logarithms.</summary>
    internal const double Epsilon = 1e-6;

    /// <summary>L1's integrand Σ_k a·BCE(r, s)/(Σ_k a + 1e-6): responses [B, K, D, H, W] against probabilities, presence [B, K] → [B, D, H, W].</summary>
    public static Tensor PredictionFit(Tensor responses, Tensor probabilities, Tensor presence) =>
        PresenceWeightedBceFunction.apply(responses, probabilities, presence);

    /// <summary>L2's integrand Σ_k a·BCE(onehot(y), r)/(Σ_k a + 1e-6): one-hot labels [B, K, V] against responses → [B, D, H, W].</summary>
    public static Tensor ResponseFit(Tensor oneHot, Tensor responses, Tensor presence) =>
        PresenceWeightedBceFunction.apply(oneHot.reshape(responses.shape), responses, presence);

    /// <summary>
    /// The presence-weighted BCE as one autograd node: it keeps its inputs (and, when the target
    /// needs a gradient, one tensor of their size) instead of the ten intermediates the elementwise
    /// formula would save, and its
    /// backward is two fused expressions:
    /// ∂/∂p = −c·(t/(p+ε) − (1−t)/(1−p+ε)), ∂/∂t = −c·(log(p+ε) − log(1−p+ε)), c = g·a/(2(Σa+1e-6)),
    /// the logarithms' difference kept from forward (a slab's worth when the loss runs in slabs).
    /// </summary>
    private sealed class PresenceWeightedBceFunction : autograd.SingleTensorFunction<PresenceWeightedBceFunction>
    {
        public override string Name => nameof(PresenceWeightedBceFunction);

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            Tensor t = (Tensor)vars[0], p = (Tensor)vars[1], presence = (Tensor)vars[2];
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            // t·log(p+ε) + (1−t)·log(1−p+ε) = log(1−p+ε) + t·ρ with ρ = log(p+ε) − log(1−p+ε),
            // which is also ∂/∂t: kept for backward rather than taking both logarithms again.
            var logQ = log(p.SubtractedFrom(1).Plus(Epsilon));
            var ratio = log(p.Plus(Epsilon)).sub_(logQ);
            var a = presence.reshape(presence.shape[0], presence.shape[1], 1, 1, 1);
            var bce = (t * ratio).add_(logQ).div_(Scalars.MinusTwo);
            var saved = new List<Tensor> { t, p, presence };
            if (t.requires_grad) saved.Add(ratio.MoveToOuterDisposeScope());
            ctx.save_for_backward(saved);
            return bce.mul_(a).sum(1).div_(a.sum(1).Plus(1e-6)).MoveToOuterDisposeScope();
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
        {
            var saved = ctx.get_saved_variables();
            Tensor t = saved[0], p = saved[1], presence = saved[2];
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            var a = presence.reshape(presence.shape[0], presence.shape[1], 1, 1, 1);
            var c = (gradOutput.unsqueeze(1) * a).div_(a.sum(1, keepdim: true).Plus(1e-6).Times(2));   // [B, K, D, H, W]
            Tensor? gradP = null, gradT = null;
            if (p.requires_grad)
                gradP = (t / p.Plus(Epsilon)).sub_(t.SubtractedFrom(1).div_(p.SubtractedFrom(1).Plus(Epsilon))).mul_(c).neg_().MoveToOuterDisposeScope();
            if (t.requires_grad)
                gradT = (saved[3] * c).neg_().MoveToOuterDisposeScope();
            return new List<Tensor> { gradT!, gradP!, null! };
        }
    }
}
