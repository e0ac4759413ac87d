using static TorchSharp.torch;

namespace GuidedNet.Training.Losses;

/// <summary>
/// Knowledge-transfer cross pseudo supervision (reference README §2): each network's logits
/// against the other's argmax, with class-weighted cross-entropy Σ w_y·ce / Σ w_y over the whole
/// batch. Network 1 is weighted with B (the state after both updates), network 2 with A.
/// </summary>
public static class WeightedCps
{
    public static (Tensor Total, Tensor Net1, Tensor Net2) Compute(Tensor logits1, Tensor logits2, Tensor weightsA, Tensor weightsB)
    {
        var pseudo1 = logits1.detach().argmax(1);
        var pseudo2 = logits2.detach().argmax(1);
        var net1 = nn.functional.cross_entropy(logits1, pseudo2, weight: weightsB.to(logits1.device));
        var net2 = nn.functional.cross_entropy(logits2, pseudo1, weight: weightsA.to(logits2.device));
        return (net1 + net2, net1, net2);
    }
}
