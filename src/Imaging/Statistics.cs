using System.Numerics;

namespace GuidedNet.Imaging;

public static class Statistics
{
    /// <summary>Percentile of sorted values with linear interpolation between order statistics (NumPy's default).</summary>
    public static double Percentile<T>(IReadOnlyList<T> sorted, double percent) where T : INumber<T>
    {
        if (sorted.Count == 0) throw new ArgumentException("no values");
        double rank = percent / 100 * (sorted.Count - 1);
        int lo = (int)Math.Floor(rank);
        int hi = Math.Min(lo + 1, sorted.Count - 1);
        double a = double.CreateChecked(sorted[lo]), b = double.CreateChecked(sorted[hi]);
        return a + (rank - lo) * (b - a);
    }
}
