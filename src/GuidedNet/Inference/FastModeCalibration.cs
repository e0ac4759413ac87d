using System.Diagnostics;

namespace GuidedNet.Inference;

/// <summary>One candidate of a calibration, as measured on the calibration cases.</summary>
/// <param name="Windows">windows computed over all cases (exact prediction's count for the exact row)</param>
/// <param name="DiceChange">the largest move of a class's mean Dice to the truth from exact prediction's (signed)</param>
/// <param name="DiceChangeClass">the class that moved most; 0 when the cases hold no foreground</param>
/// <param name="WithinMargin">within the bounds with <see cref="FastModeCalibration.DiceMargin"/> of the Dice allowance to spare: what a part that moves windows must show to be taken</param>
public sealed record FastModeCandidate(string Mode, int Windows, double Seconds, double VoxelAgreement, double DiceChange, int DiceChangeClass, bool WithinBounds,
    bool WithinMargin);

/// <summary>The parts a model's <c>--fast</c> takes (<see cref="Chosen"/>, a <see cref="FastMode.Parse"/> string) and the evidence.</summary>
public sealed record FastModeDecision(string Chosen, int Cases, IReadOnlyList<FastModeCandidate> Candidates, string Reason);

/// <summary>
/// Decides on labelled cases which fast parts a model may take, as its post-processing is decided
/// on its validation cases. The parts that change where windows lie (<c>overlap</c>, <c>crop</c>)
/// kept every class's Dice within 0.005 of exact prediction on models trained long enough and moved
/// one by 0.1 on an undertrained phantom model (docs/performance.md, "Fast mode"): whether they are
/// safe is a property of the model, so each model is measured. A part is taken only when, on top of
/// <see cref="FastMode.Baseline"/>, it stays within <see cref="FastModeAgreement"/>'s bounds with
/// <see cref="DiceMargin"/> to spare <em>and</em> computed fewer windows than the baseline on these
/// cases: a part the cases did not exercise (volumes smaller than a patch, a body filling the
/// volume) has shown nothing. When the baseline itself leaves the bounds, <c>--fast</c> on this
/// model is exact prediction.
/// </summary>
public static class FastModeCalibration
{
    /// <summary>
    /// The share of <see cref="FastModeAgreement.MaxDiceChange"/> a part that moves windows may use on
    /// the calibration cases. Training's validation cases are few, and a class's Dice change on two
    /// of them is a noisy estimate: on the anatomy experiment's models (docs/performance.md, "Fast
    /// mode calibrated per model") the coarse overlap measured +0.0027 on two validation cases and
    /// +0.0060 on six test cases, outside the bounds; no part measured within half the allowance left
    /// them on the test cases.
    /// </summary>
    public const double DiceMargin = 0.5;

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
        bool WithinMargin(Run r) => Within(r) && Math.Abs(r.Agreement.LargestDiceChange(exactRun.Agreement).Change) <= DiceMargin * FastModeAgreement.MaxDiceChange;
        FastMode chosen;
        string reason;
        if (!Within(baseline))
        {
            chosen = FastMode.Exact;
            reason = "bf16 and skipping air left the bounds on these cases: fast prediction is exact prediction for this model";
        }
        else
        {
            var taken = new[] { overlap, tiled }.Where(r => WithinMargin(r) && r.Windows < baseline.Windows).OrderBy(r => r.Windows).ToList();
            if (taken.Count == 2 && WithinMargin(all) && all.Windows < taken[0].Windows)
            {
                chosen = all.Mode;
                reason = "both the coarse overlap and the body's own tiling stayed within the bounds with the margin, alone and together, with fewer windows";
            }
            else if (taken.Count > 0)
            {
                chosen = taken[0].Mode;
                reason = $"{taken[0].Mode} stayed within the bounds with the margin and computed fewer windows than the baseline";
            }
            else
            {
                chosen = FastMode.Baseline;
                reason = "no part beyond the baseline both stayed within the bounds with the margin and saved windows on these cases";
            }
        }
        var candidates = runs.Select(r =>
        {
            var change = r.Agreement.LargestDiceChange(exactRun.Agreement);
            return new FastModeCandidate(r.Mode.ToString(), r.Windows, r.Seconds, r.Agreement.VoxelAgreement, change.Change, change.Class, Within(r), WithinMargin(r));
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
