using static TorchSharp.torch;

namespace GuidedNet.Runtime;

public static class Reductions
{
    /// <summary>
    /// Index of the largest value along <paramref name="dim"/> (the first one on ties, as argmax).
    /// Taken from max(dim): libtorch's CPU argmax along a non-innermost axis is ~7× slower
    /// (89 ms against 12.5 ms over the classes of [4, 14, 131072] logits on this project's CPU).
    /// </summary>
    public static Tensor ArgMax(Tensor input, long dim)
    {
        var (values, indexes) = input.max(dim);
        values.Dispose();
        return indexes;
    }
}
