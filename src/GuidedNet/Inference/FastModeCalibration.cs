using System.Diagnostics;

namespace GuidedNet.Inference;

/// <summary>One candidate of a calibration, as measured on the calibration cases.</summary>
/// <param name="Windows">windows computed over all cases (exact prediction's count for the exact row)</param>
/// <param name="DiceChange">the largest move of a class's mean Dice to the truth from exact prediction's (signed)</param>
/// <param name="DiceChangeClass">the class that moved most; 0 when the cases hold no foreground</param>
public sealed record FastModeCandidate(string Mode, int Windows, double Seconds, double VoxelAgreement, double DiceChange, int DiceChangeClass, bool WithinBounds);

/// <summary>The parts a model's <c>--fast</c> takes (<see cref="Chosen"/>, a <see cref="FastMode.Parse"/> string) and the evidence.</summary>
public sealed record FastModeDecision(string Chosen, int Cases, IReadOnlyList<FastModeCandidate> Candidates, string Reason);

/// <summary>
/// Decides on labelled cases which fast parts a model may take, as its post-processing is decided
/// on its validation cases. The parts that change where windows lie (<c>overlap</c>, <c>crop</c>)
/// kept every class's Dice within 0.005 of exact prediction on models trained long enough and moved
/// one by 0.1 on an undertrained phantom model (docs/performance.md, "Fast mode"): whether they are
/// safe is a property of the model, so each model is measured. A part is taken only when, on top of
/// <see cref="FastMode.Baseline"/>, it stays within <see cref="FastModeAgreement"/>'s bounds
/// <em>and</em> computed fewer windows than the baseline on these cases: a part the cases did not
/// exercise (volumes smaller than a patch, a body filling the volume) has shown nothing. When the
/// baseline itself leaves the bounds, <c>--fast</c> on this model is exact prediction.
/// </summary>
public static class FastModeCalibration
{
    /// <summary>The baseline with windows overlapping by a quarter.</summary>
    public static FastMode CoarseOverlap { get; } = FastMode.Baseline with { CoarseOverlap = true };

    /// <summary>The baseline with the body's box tiled on its own.</summary>
    public static FastMode BodyTiled { get; } = FastMode.Baseline with { SkipOutsideBody = false, TileBody = true };

    /// <summary>Exact prediction first (the others are compared with it), then every candidate.</summary>
    public static IReadOnlyList<FastMode> Modes { get; } = [FastMode.Exact, FastMode.Baseline, CoarseOverlap, BodyTiled, FastMode.All];

    /// <param name="truth">a case's true labels, in the layout <paramref name="predict"/>'s labels have</param>
    /// <param name="predict">a case's labels under a mode, and the windows it computed</param>
    public static FastModeDecision Decide<TCase>(IReadOnlyList<TCase> cases, int numClasses, Func<TCase, byte[]> truth,
        Func<FastMode, TCase, (byte[] Labels, int Windows)> predict)
    {
        if (cases.Count == 0) throw new ArgumentException("fast-mode calibration needs at least one labelled case");
        var runs = Modes.Select(m => new Run(m, new FastModeAgreement(numClasses))).ToArray();
        foreach (var c in cases)
        {
            var labelsTrue = truth(c);
            byte[]? exact = null;
            foreach (var run in runs)
            {
                var clock = Stopwatch.StartNew();
                var (labels, windows) = predict(run.Mode, c);
                run.Seconds += clock.Elapsed.TotalSeconds;
                run.Windows += windows;
                exact ??= labels;
                run.Agreement.Add(labels, exact, labelsTrue);
            }
        }

        var (exactRun, baseline, overlap, tiled, all) = (runs[0], runs[1], runs[2], runs[3], runs[4]);
        bool Within(Run r) => r.Agreement.WithinBounds(exactRun.Agreement);
        FastMode chosen;
        string reason;
        if (!Within(baseline))
        {
            chosen = FastMode.Exact;
            reason = "bf16 and skipping air left the bounds on these cases: fast prediction is exact prediction for this model";
        }
        else
        {
            var taken = new[] { overlap, tiled }.Where(r => Within(r) && r.Windows < baseline.Windows).OrderBy(r => r.Windows).ToList();
            if (taken.Count == 2 && Within(all) && all.Windows < taken[0].Windows)
            {
                chosen = all.Mode;
                reason = "both the coarse overlap and the body's own tiling stayed within the bounds, alone and together, with fewer windows";
            }
            else if (taken.Count > 0)
            {
                chosen = taken[0].Mode;
                reason = $"{taken[0].Mode} stayed within the bounds with fewer windows than the baseline";
            }
            else
            {
                chosen = FastMode.Baseline;
                reason = "no part beyond the baseline both stayed within the bounds and saved windows on these cases";
            }
        }
        var candidates = runs.Select(r =>
        {
            var change = r.Agreement.LargestDiceChange(exactRun.Agreement);
            return new FastModeCandidate(r.Mode.ToString(), r.Windows, r.Seconds, r.Agreement.VoxelAgreement, change.Change, change.Class, Within(r));
        }).ToList();
        return new FastModeDecision(chosen.ToString(), cases.Count, candidates, reason);
    }

    private sealed class Run(FastMode mode, FastModeAgreement agreement)
    {
        public FastMode Mode { get; } = mode;
        public FastModeAgreement Agreement { get; } = agreement;
        public int Windows { get; set; }
        public double Seconds { get; set; }
    }
}
