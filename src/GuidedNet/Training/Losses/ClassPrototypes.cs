using GuidedNet.Runtime;
using static TorchSharp.torch;

namespace GuidedNet.Training.Losses;

/// <summary>
/// Class prototypes of the labeled samples and the loss that pushes them apart
/// (reference README §2; tools.cal_protypes, tools.proto_loss).
/// </summary>
public sealed class ClassPrototypes
{
    private ClassPrototypes(Tensor presence, Tensor prototypes, Tensor separationLoss)
    {
        Presence = presence;
        Prototypes = prototypes;
        SeparationLoss = separationLoss;
    }

    /// <summary>a[b, k] = 1 where class k occurs in labeled sample b. [B, K]</summary>
    public Tensor Presence { get; }

    /// <summary>μ[b, k, :] = mean feature of class k's voxels in sample b, 0 when absent. [B, K, C]</summary>
    public Tensor Prototypes { get; }

    /// <summary>Mean over present class pairs i &lt; j of exp(−(mean_c |m_i − m_j|)²). Scalar.</summary>
    public Tensor SeparationLoss { get; }

    /// <param name="features">[B, C, D, H, W] of the labeled samples</param>
    /// <param name="labels">[B, D, H, W]</param>
    /// <param name="oneHot">one-hot labels [B, K, V] when the caller has them already</param>
    public static ClassPrototypes Compute(Tensor features, Tensor labels, int numClasses, Tensor? oneHot = null)
    {
        oneHot ??= LabelEncoding.OneHot(labels, numClasses);              // [B, K, V]
        var presence = PresenceOf(oneHot);
        var prototypes = Average(features, oneHot);
        return new ClassPrototypes(presence, prototypes, Separation(prototypes, presence));
    }

    /// <summary>a[b, k] = 1 where class k occurs: one-hot [B, K, V] → [B, K].</summary>
    public static Tensor PresenceOf(Tensor oneHot) => oneHot.amax(new long[] { 2 });

    /// <summary>μ = Σ_v onehot·f / (count + 1e-6): features [B, C, D, H, W], one-hot [B, K, V] → [B, K, C].</summary>
    public static Tensor Average(Tensor features, Tensor oneHot)
    {
        long b = features.shape[0], c = features.shape[1];
        var counts = oneHot.sum(2);                                            // [B, K]
        var sums = matmul(oneHot, features.reshape(b, c, -1).transpose(1, 2)); // [B, K, C]
        // The reference divides by count + 1e-6, not by the count.
        return sums / counts.unsqueeze(2).Plus(1e-6);
    }

    /// <summary>The separation loss of prototypes [B, K, C] with presence [B, K] (all labeled samples of the batch). Scalar.</summary>
    public static Tensor Separation(Tensor prototypes, Tensor presence)
    {
        // "Mean" vectors as the reference computes them: Σ_b μ · Σ_b a / (Σ_b a + 1e-6) — a sum over the batch.
        var present = presence.sum(dim: 0).unsqueeze(1);                         // [K, 1]
        var means = prototypes.sum(dim: 0) * present / present.Plus(1e-6);         // [K, C]
        var inBatch = presence.sum(dim: 0).gt(Scalars.Zero).data<bool>().ToArray();
        var pairs = new List<(long, long)>();
        for (int i = 0; i < inBatch.Length; i++)
            for (int j = i + 1; j < inBatch.Length; j++)
                if (inBatch[i] && inBatch[j]) pairs.Add((i, j));
        if (pairs.Count == 0) return zeros(1, dtype: means.dtype, device: means.device).sum();
        var first = tensor(pairs.Select(p => p.Item1).ToArray(), device: means.device);
        var second = tensor(pairs.Select(p => p.Item2).ToArray(), device: means.device);
        var distance = (means.index_select(0, first) - means.index_select(0, second)).abs().mean(new long[] { 1 });
        return exp(-(distance * distance)).sum().Over(pairs.Count + 1e-6);
    }
}
