using TorchSharp;

namespace GuidedNet.Runtime;

/// <summary>
/// Scalars that live as long as the process, for the constants of the numerics. TorchSharp passes a
/// <see cref="Scalar"/>'s native handle to libtorch and keeps no reference to the managed wrapper
/// during the call, so a Scalar made for one call (an implicit conversion, as in <c>x.pow(2)</c>) can
/// be finalized — its native value freed — by a garbage collection on another thread while libtorch
/// still reads it: measured, a training run with a thread collecting in a loop aborted in
/// <c>masked_fill</c> on a garbage fill value (docs/performance.md, "Numerical faults"). A value known
/// only at run time is made with <c>using var s = v.ToScalar()</c>, which keeps it alive to the end of
/// the call.
/// </summary>
public static class Scalars
{
    public static readonly Scalar Zero = 0.ToScalar();
    public static readonly Scalar One = 1.ToScalar();
    public static readonly Scalar Two = 2.ToScalar();
    public static readonly Scalar MinusTwo = (-2).ToScalar();
    public static readonly Scalar Eight = 8.ToScalar();
}
