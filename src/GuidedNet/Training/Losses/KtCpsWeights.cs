using static TorchSharp.torch;

namespace GuidedNet.Training.Losses;

/// <summary>
/// KT-CPS class weights (reference README §2; train_guidedNet KTCPS): from voxel counts n_k,
/// w_k = K · log(max(n)/n_k) / max_j log(max(n)/n_j) (1e-8 guards), so rare classes weigh more.
/// They start from the labeled training set's histogram and after every forward pass move by an
/// EMA (momentum 0.99) toward the weights of the labeled voxels the network got right (wrong
/// ones count as background). One state is shared by both networks.
/// </summary>
public sealed class KtCpsWeights
{
    public KtCpsWeights(double[] datasetHistogram, double momentum = 0.99)
    {
        NumClasses = datasetHistogram.Length;
        Momentum = momentum;
        Weights = FromCounts(datasetHistogram.Select(v => (float)v).ToArray());
    }

    public int NumClasses { get; }
    public double Momentum { get; }

    /// <summary>Current weights, float32 like the reference's state.</summary>
    public float[] Weights { get; private set; }

    /// <summary>Restores a saved state (resume).</summary>
    public void Restore(float[] weights)
    {
        if (weights.Length != NumClasses) throw new ArgumentException($"expected {NumClasses} weights, got {weights.Length}");
        Weights = (float[])weights.Clone();
    }

    /// <summary>w_k = K·log(P_k)/max log P with P_k = (max n + 1e-8)/(n_k + 1e-8), in float32.</summary>
    public static float[] FromCounts(float[] counts)
    {
        int k = counts.Length;
        float max = counts.Max() + 1e-8f;
        var logs = counts.Select(n => MathF.Log(max / (n + 1e-8f))).ToArray();
        float maxLog = logs.Max();
        // Every class equally frequent: the reference would divide 0 by 0; equal weights are the limit.
        if (!(maxLog > 0)) return Enumerable.Repeat(1f, k).ToArray();
        return logs.Select(l => l / maxLog * k).ToArray();
    }

    /// <summary>Voxel counts per class over a label tensor (any shape).</summary>
    public static float[] Histogram(Tensor labels, int numClasses)
    {
        var counts = labels.reshape(-1).bincount(null, numClasses).cpu().to(ScalarType.Int64).data<long>().ToArray();
        return counts.Take(numClasses).Select(c => (float)c).ToArray();
    }

    /// <summary>
    /// One EMA step from a network's predicted classes (the argmax of its logits) on the labeled
    /// half and the labels; returns the new weights (a copy: the caller may keep it while the state
    /// moves on).
    /// </summary>
    public float[] Update(Tensor predicted, Tensor labels)
    {
        using var scope = NewDisposeScope();
        var correct = where(predicted == labels, predicted, zeros_like(predicted));
        var current = FromCounts(Histogram(correct, NumClasses));
        float keep = (float)Momentum, take = (float)(1 - Momentum);
        Weights = Weights.Zip(current, (past, now) => keep * past + take * now).ToArray();
        return (float[])Weights.Clone();
    }
}
