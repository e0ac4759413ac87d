using static TorchSharp.torch;

namespace GuidedNet.Training.Losses;

/// <summary>
/// CGMM responses (reference README §2; tools.GMM and tools.GMM_predict): how strongly each voxel's
/// feature matches each class prototype, r[b, k, v] = exp(−(mean_c |f[b, c, v] − μ[b, k, c]|)²).
///
/// The reference broadcasts features against prototypes into a [B, K, C, D, H, W] tensor — at the
/// paper's patch and batch that tensor is what forced two GPUs. Here the distance is a custom
/// autograd function that loops over classes, so forward and backward hold one [B, C, V] temporary
/// at a time; values and gradients are the same.
/// </summary>
public static class CgmmResponses
{
    /// <summary>Labeled samples: responses masked by class presence. features [B, C, D, H, W], prototypes [B, K, C], presence [B, K] → [B, K, D, H, W].</summary>
    public static Tensor Labeled(Tensor features, Tensor prototypes, Tensor presence)
    {
        var distance = MeanAbsDistance(features, prototypes);
        var mask = presence.reshape(presence.shape[0], presence.shape[1], 1, 1, 1);
        // The reference zeroes the distance of absent classes before exp, then the response.
        return exp(-(distance * mask).pow(2)) * mask;
    }

    /// <summary>Unlabeled sample i against labeled sample i's prototypes, no class mask. → [B, K, D, H, W].</summary>
    public static Tensor Unlabeled(Tensor features, Tensor prototypes)
    {
        if (features.shape[0] != prototypes.shape[0])
            throw new ArgumentException($"the reference pairs unlabeled sample i with labeled sample i: {features.shape[0]} unlabeled vs {prototypes.shape[0]} labeled samples");
        var distance = MeanAbsDistance(features, prototypes);
        return exp(-distance.pow(2));
    }

    /// <summary>mean_c |f[b, c, v] − μ[b, k, c]| → [B, K, D, H, W].</summary>
    public static Tensor MeanAbsDistance(Tensor features, Tensor prototypes)
    {
        var shape = features.shape;
        var flat = features.reshape(shape[0], shape[1], -1);
        var distance = ChannelMeanAbsDistance.apply(flat, prototypes);
        return distance.reshape(shape[0], prototypes.shape[1], shape[2], shape[3], shape[4]);
    }

    /// <summary>
    /// D[b, k, v] = mean_c |f[b, c, v] − μ[b, k, c]| for f [B, C, V], μ [B, K, C]. Backward:
    /// ∂D/∂f = sign(f − μ_k)/C and ∂D/∂μ = −sign(f − μ_k)/C, accumulated one class at a time.
    /// </summary>
    private sealed class ChannelMeanAbsDistance : autograd.SingleTensorFunction<ChannelMeanAbsDistance>
    {
        public override string Name => nameof(ChannelMeanAbsDistance);

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var f = (Tensor)vars[0];
            var mu = (Tensor)vars[1];
            ctx.save_for_backward(new List<Tensor> { f, mu });
            long b = f.shape[0], k = mu.shape[1], v = f.shape[2];
            var result = empty(new long[] { b, k, v }, dtype: f.dtype, device: f.device);
            for (long i = 0; i < k; i++)
            {
                using var scope = NewDisposeScope();
                result[.., i] = (f - mu[.., i].unsqueeze(2)).abs_().mean(new long[] { 1 });
            }
            return result;
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
        {
            var saved = ctx.get_saved_variables();
            Tensor f = saved[0], mu = saved[1];
            long c = f.shape[1], k = mu.shape[1];
            var gradF = zeros_like(f);
            var gradMu = zeros_like(mu);
            for (long i = 0; i < k; i++)
            {
                using var scope = NewDisposeScope();
                var weighted = (f - mu[.., i].unsqueeze(2)).sign_().mul_(gradOutput[.., i].unsqueeze(1)); // [B, C, V]
                gradF.add_(weighted);
                gradMu[.., i] = -weighted.sum(2);
            }
            return new List<Tensor> { gradF.div_(c), gradMu.div_(c) };
        }
    }
}
