using System.Globalization;
using GuidedNet.Evaluation;

namespace GuidedNet.Inference;

/// <summary>
/// One fast mode's masks against exact prediction's and against the truth, accumulated over
/// cases: voxel agreement with the exact masks, and how far each class's Dice to the truth moved.
/// A mode is within the bounds when at least <see cref="MinVoxelAgreement"/> of the voxels agree
/// and no class's mean Dice to the truth moves by more than <see cref="MaxDiceChange"/> (the
/// bounds issue 17 set for fast mode).
/// </summary>
public sealed class FastModeAgreement(int numClasses)
{
    public const double MaxDiceChange = 0.005, MinVoxelAgreement = 0.995;

    private long _voxels, _agreeing, _foreground, _foregroundAgreeing;
    private readonly List<double?[]> _toExact = new(), _toTruth = new();

    public int Cases => _toTruth.Count;

    public double VoxelAgreement => _voxels == 0 ? 1 : (double)_agreeing / _voxels;

    /// <summary>Agreement over voxels that either mask calls foreground: the part a whole-volume figure hides.</summary>
    public double ForegroundAgreement => _foreground == 0 ? 1 : (double)_foregroundAgreeing / _foreground;

    public double LowestDiceToExact => _toExact.SelectMany(d => d).OfType<double>().DefaultIfEmpty(1).Min();

    public double LastAgreement { get; private set; }

    /// <param name="mask">this mode's labels</param>
    /// <param name="exact">exact prediction's labels of the same case</param>
    /// <param name="truth">the case's true labels</param>
    public void Add(byte[] mask, byte[] exact, byte[] truth)
    {
        if (mask.Length != exact.Length || mask.Length != truth.Length) throw new ArgumentException("the masks of a case differ in size");
        long agreeing = 0, foreground = 0, foregroundAgreeing = 0;
        for (int i = 0; i < mask.Length; i++)
        {
            bool same = mask[i] == exact[i];
            if (same) agreeing++;
            if (mask[i] != 0 || exact[i] != 0)
            {
                foreground++;
                if (same) foregroundAgreeing++;
            }
        }
        _voxels += mask.Length;
        _agreeing += agreeing;
        _foreground += foreground;
        _foregroundAgreeing += foregroundAgreeing;
        LastAgreement = mask.Length == 0 ? 1 : (double)agreeing / mask.Length;
        _toExact.Add(DiceScore.ByClass(mask, exact, numClasses));
        // Only the classes the truth holds: Dice of a class absent from the truth is 0 or undefined.
        var toTruth = DiceScore.ByClass(mask, truth, numClasses);
        var present = new bool[numClasses];
        foreach (byte t in truth) present[t] = true;
        _toTruth.Add(toTruth.Select((d, i) => present[i + 1] ? d : null).ToArray());
    }

    /// <summary>Class k's mean Dice to the truth over the cases holding it, or null when none does.</summary>
    public double? MeanDiceToTruth(int k)
    {
        var values = _toTruth.Select(d => d[k - 1]).OfType<double>().ToList();
        return values.Count == 0 ? null : values.Average();
    }

    /// <summary>The class whose mean Dice to the truth moved most from <paramref name="exact"/>'s, and by how much (signed); class 0 when no class is in the truth.</summary>
    public (int Class, double Change) LargestDiceChange(FastModeAgreement exact)
    {
        var changes = Enumerable.Range(1, numClasses - 1)
            .Select(k => (k, change: MeanDiceToTruth(k) is { } mine && exact.MeanDiceToTruth(k) is { } theirs ? mine - theirs : (double?)null))
            .Where(c => c.change is not null).ToList();
        if (changes.Count == 0) return (0, 0);
        var largest = changes.MaxBy(c => Math.Abs(c.change!.Value));
        return (largest.k, largest.change!.Value);
    }

    public bool WithinBounds(FastModeAgreement exact) =>
        VoxelAgreement >= MinVoxelAgreement && Math.Abs(LargestDiceChange(exact).Change) <= MaxDiceChange;

    public static string Describe((int Class, double Change) change) =>
        change.Class == 0 ? "" : string.Create(CultureInfo.InvariantCulture, $"{change.Change:+0.0000;-0.0000;0.0000} (class {change.Class})");
}
