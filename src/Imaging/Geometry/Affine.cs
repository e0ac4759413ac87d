namespace GuidedNet.Imaging.Geometry;

/// <summary>
/// A 4×4 homogeneous transform from voxel indices (i, j, k) to world coordinates in millimetres,
/// NIfTI convention (RAS+: +x right, +y anterior, +z superior).
/// </summary>
public sealed class Affine
{
    private readonly double[,] _m;

    public Affine(double[,] matrix)
    {
        if (matrix.GetLength(0) != 4 || matrix.GetLength(1) != 4)
            throw new ArgumentException("an affine is a 4x4 matrix", nameof(matrix));
        _m = (double[,])matrix.Clone();
    }

    public static Affine Identity => Scaling(1, 1, 1);

    public static Affine Scaling(double x, double y, double z) =>
        new(new double[,] { { x, 0, 0, 0 }, { 0, y, 0, 0 }, { 0, 0, z, 0 }, { 0, 0, 0, 1 } });

    public double this[int row, int column] => _m[row, column];

    /// <summary>Millimetres per voxel step along i, j, k: the norms of the first three columns.</summary>
    public Vector3d Spacing => new(ColumnNorm(0), ColumnNorm(1), ColumnNorm(2));

    private double ColumnNorm(int c) => Math.Sqrt(_m[0, c] * _m[0, c] + _m[1, c] * _m[1, c] + _m[2, c] * _m[2, c]);

    public Vector3d Apply(double i, double j, double k) => new(
        _m[0, 0] * i + _m[0, 1] * j + _m[0, 2] * k + _m[0, 3],
        _m[1, 0] * i + _m[1, 1] * j + _m[1, 2] * k + _m[1, 3],
        _m[2, 0] * i + _m[2, 1] * j + _m[2, 2] * k + _m[2, 3]);

    public Affine Multiply(Affine other)
    {
        var r = new double[4, 4];
        for (int a = 0; a < 4; a++)
            for (int b = 0; b < 4; b++)
            {
                double s = 0;
                for (int c = 0; c < 4; c++) s += _m[a, c] * other._m[c, b];
                r[a, b] = s;
            }
        return new Affine(r);
    }

    public bool ApproximatelyEquals(Affine other, double tolerance)
    {
        for (int a = 0; a < 4; a++)
            for (int b = 0; b < 4; b++)
                if (Math.Abs(_m[a, b] - other._m[a, b]) > tolerance) return false;
        return true;
    }

    /// <summary>
    /// The quaternion parameters (b, c, d) and qfac that encode this affine's rotation as a NIfTI
    /// qform (nifti1.h, "method 2"); shear and non-orthogonality are dropped.
    /// </summary>
    public (double B, double C, double D, double QFac) ToQuaternion()
    {
        var s = Spacing;
        double[,] r = new double[3, 3];
        for (int row = 0; row < 3; row++)
        {
            r[row, 0] = _m[row, 0] / s.X;
            r[row, 1] = _m[row, 1] / s.Y;
            r[row, 2] = _m[row, 2] / s.Z;
        }
        double det = r[0, 0] * (r[1, 1] * r[2, 2] - r[1, 2] * r[2, 1])
                   - r[0, 1] * (r[1, 0] * r[2, 2] - r[1, 2] * r[2, 0])
                   + r[0, 2] * (r[1, 0] * r[2, 1] - r[1, 1] * r[2, 0]);
        double qfac = 1;
        if (det < 0)
        {
            qfac = -1;
            for (int row = 0; row < 3; row++) r[row, 2] = -r[row, 2];
        }
        double a = r[0, 0] + r[1, 1] + r[2, 2] + 1;
        double b, c, d;
        if (a > 0.5)
        {
            a = 0.5 * Math.Sqrt(a);
            b = 0.25 * (r[2, 1] - r[1, 2]) / a;
            c = 0.25 * (r[0, 2] - r[2, 0]) / a;
            d = 0.25 * (r[1, 0] - r[0, 1]) / a;
        }
        else
        {
            double xd = 1 + r[0, 0] - (r[1, 1] + r[2, 2]);
            double yd = 1 + r[1, 1] - (r[0, 0] + r[2, 2]);
            double zd = 1 + r[2, 2] - (r[0, 0] + r[1, 1]);
            if (xd > 1)
            {
                b = 0.5 * Math.Sqrt(xd);
                c = 0.25 * (r[0, 1] + r[1, 0]) / b;
                d = 0.25 * (r[0, 2] + r[2, 0]) / b;
                a = 0.25 * (r[2, 1] - r[1, 2]) / b;
            }
            else if (yd > 1)
            {
                c = 0.5 * Math.Sqrt(yd);
                b = 0.25 * (r[0, 1] + r[1, 0]) / c;
                d = 0.25 * (r[1, 2] + r[2, 1]) / c;
                a = 0.25 * (r[0, 2] - r[2, 0]) / c;
            }
            else
            {
                d = 0.5 * Math.Sqrt(zd);
                b = 0.25 * (r[0, 2] + r[2, 0]) / d;
                c = 0.25 * (r[1, 2] + r[2, 1]) / d;
                a = 0.25 * (r[1, 0] - r[0, 1]) / d;
            }
            if (a < 0) { b = -b; c = -c; d = -d; }
        }
        return (b, c, d, qfac);
    }
}
