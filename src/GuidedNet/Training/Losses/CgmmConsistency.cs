using GuidedNet.Runtime;
using static TorchSharp.torch;

namespace GuidedNet.Training.Losses;

/// <summary>
/// Consistency between the two networks' CGMM responses on the labeled half (reference README §2):
/// weight · mean((softmax_k(r1) − softmax_k(r2))²).
/// </summary>
public static class CgmmConsistency
{
    public static Tensor Compute(Tensor responses1, Tensor responses2, double weight)
    {
        var difference = responses1.softmax(1) - responses2.softmax(1);
        return difference.pow(Scalars.Two).mean().Times(weight);
    }
}
