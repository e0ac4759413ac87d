using GuidedNet.Runtime;
using static TorchSharp.torch;

namespace GuidedNet.Training.Losses;

/// <summary>
/// Supervised loss of the labeled half: 0.5 · (cross-entropy + soft Dice). The Dice term is the
/// mean over all K classes (background included) of 1 − (2Σpt + 1e-5)/(Σp² + Σt² + 1e-5), the
/// sums taken over the whole labeled batch (reference README §2, losses.DiceLoss).
/// </summary>
public static class SupervisedLoss
{
    /// <param name="logits">[B, K, D, H, W]</param>
    /// <param name="labels">[B, D, H, W] int64</param>
    /// <param name="probabilities">softmax(logits) when the caller has it already</param>
    /// <param name="oneHot">one-hot labels [B, K, V] when the caller has them already</param>
    public static (Tensor Total, Tensor CrossEntropy, Tensor Dice) Compute(Tensor logits, Tensor labels,
        Tensor? probabilities = null, Tensor? oneHot = null)
    {
        int k = (int)logits.shape[1];
        var ce = nn.functional.cross_entropy(logits, labels);
        var dice = SoftDice(probabilities ?? logits.softmax(1), oneHot ?? LabelEncoding.OneHot(labels, k), k);
        return ((ce + dice).Times(0.5), ce, dice);
    }

    /// <param name="oneHot">[B, K, V]</param>
    public static Tensor SoftDice(Tensor probabilities, Tensor oneHot, int numClasses)
    {
        var (intersect, predicted, target) = DiceSums(probabilities, oneHot, numClasses);
        return DiceFromSums(intersect, predicted, target);
    }

    /// <summary>Per class over the batch: Σpt, Σp², Σt² (each [K]). probabilities [B, K, D, H, W], oneHot [B, K, V].</summary>
    public static (Tensor Intersect, Tensor Predicted, Tensor Target) DiceSums(Tensor probabilities, Tensor oneHot, int numClasses)
    {
        long b = probabilities.shape[0];
        var p = probabilities.reshape(b, numClasses, -1);
        var sumOver = new long[] { 0, 2 };
        return ((p * oneHot).sum(sumOver), (p * p).sum(sumOver), (oneHot * oneHot).sum(sumOver));
    }

    /// <summary>mean_k 1 − (2Σpt + 1e-5)/(Σp² + Σt² + 1e-5).</summary>
    public static Tensor DiceFromSums(Tensor intersect, Tensor predicted, Tensor target) =>
        (intersect.Times(2).Plus(1e-5) / (predicted + target).Plus(1e-5)).SubtractedFrom(1).mean();
}
