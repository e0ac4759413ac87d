using TorchSharp;
using GuidedNet.Runtime;
using static TorchSharp.torch;

namespace GuidedNet.Training.Losses;

internal static class LabelEncoding
{
    /// <summary>
    /// One-hot of labels [B, D, H, W] → [B, K, D·H·W] float; labels ≥ K (e.g. an ignore value)
    /// get an all-zero row, as the reference's <c>one_hot</c> does.
    /// </summary>
    public static Tensor OneHot(Tensor labels, int numClasses)
    {
        long b = labels.shape[0];
        using var last = numClasses.ToScalar();
        var clamped = labels.reshape(b, -1).clamp(Scalars.Zero, last);
        return nn.functional.one_hot(clamped, numClasses + 1)[.., .., ..numClasses].permute(0, 2, 1).to(ScalarType.Float32);
    }
}
