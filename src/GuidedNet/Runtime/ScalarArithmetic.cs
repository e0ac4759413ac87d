using TorchSharp;
using static TorchSharp.torch;

namespace GuidedNet.Runtime;

/// <summary>
/// Tensor–number arithmetic that keeps its Scalar alive through the libtorch call. TorchSharp's own
/// operators (<c>t + 1e-6</c>, <c>2 * t</c>) make the Scalar inside TorchSharp and drop it while
/// libtorch reads it, so a collection on another thread can free it mid-call (<see cref="Scalars"/>);
/// seen in CI as a garbage value in the prototype separation. Same operations, same results (each
/// is one libtorch op, and <c>v − t</c> is <c>(−t) + v</c>, exact in floating point).
/// </summary>
public static class ScalarArithmetic
{
    /// <summary>t + v.</summary>
    public static Tensor Plus(this Tensor t, double v)
    {
        using var s = v.ToScalar();
        return t.add(s, Scalars.One);
    }

    /// <summary>t · v.</summary>
    public static Tensor Times(this Tensor t, double v)
    {
        using var s = v.ToScalar();
        return t.mul(s);
    }

    /// <summary>t / v.</summary>
    public static Tensor Over(this Tensor t, double v)
    {
        using var s = v.ToScalar();
        return t.div(s);
    }

    /// <summary>v − t.</summary>
    public static Tensor SubtractedFrom(this Tensor t, double v)
    {
        using var s = v.ToScalar();
        return t.neg().add_(s, Scalars.One);
    }
}
