namespace GuidedNet.Training;

/// <summary>Learning-rate and loss-weight schedules of the reference (README §2).</summary>
public static class Schedules
{
    /// <summary>Sigmoid ramp-up exp(−5·(1 − min(t, L)/L)²) (Laine &amp; Aila 2017; reference ramps.sigmoid_rampup).</summary>
    public static double SigmoidRampup(double current, double length)
    {
        if (length == 0) return 1;
        double phase = 1 - Math.Clamp(current, 0, length) / length;
        return Math.Exp(-5 * phase * phase);
    }

    /// <summary>
    /// Weight of the CGMM consistency and CPS terms at an iteration: consistency ·
    /// sigmoid_rampup(iteration // (R/200), 200). With the reference's R = 30,000 that is
    /// iteration // 150 — a ramp that completes after the 20,000 iterations the paper trains;
    /// shorter runs can scale R to their budget.
    /// </summary>
    public static double ConsistencyWeight(int iteration, double consistency = 0.1, int rampupIterations = ReferenceRampupIterations)
    {
        int stepsPerEpoch = Math.Max(1, rampupIterations / 200);
        return consistency * SigmoidRampup(iteration / stepsPerEpoch, 200);
    }

    /// <summary>150 iterations per ramp "epoch" × 200 epochs, as the reference computes it.</summary>
    public const int ReferenceRampupIterations = TrainingOptions.ReferenceRampupIterations;

    /// <summary>Poly decay lr · (1 − iteration/max)^0.9.</summary>
    public static double PolyLearningRate(double baseLr, int iteration, int maxIterations) =>
        baseLr * Math.Pow(Math.Max(0, 1.0 - (double)iteration / maxIterations), 0.9);
}
