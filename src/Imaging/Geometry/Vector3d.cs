namespace GuidedNet.Imaging.Geometry;

/// <summary>Three doubles in (x, y, z) order: a spacing in millimetres or a world position.</summary>
public readonly record struct Vector3d(double X, double Y, double Z)
{
    public double this[int axis] => axis switch
    {
        0 => X,
        1 => Y,
        2 => Z,
        _ => throw new ArgumentOutOfRangeException(nameof(axis)),
    };

    public override string ToString() => FormattableString.Invariant($"({X:G6}, {Y:G6}, {Z:G6})");
}
