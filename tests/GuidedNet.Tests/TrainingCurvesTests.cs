using GuidedNet.Training;

namespace GuidedNet.Tests;

public sealed class TrainingCurvesTests
{
    [Fact]
    public void Curves_show_the_headline_loss_terms_on_a_log_scale_and_each_validations_dice_per_class()
    {
        var history = new TrainingHistory();
        history.Iterations.Add(new IterationRecord(1, 0.01, new() { ["sup1"] = 1.0, ["total"] = 2.0, ["dice1"] = 0.5 }, 0.1));
        history.Iterations.Add(new IterationRecord(2, 0.01, new() { ["sup1"] = 0.6, ["total"] = 1.0, ["dice1"] = 0.2, ["cps"] = 0.1 }, 0.1));
        history.Validations.Add(new ValidationRecord(2, 0.6, new() { ["liver"] = 0.8, ["spleen"] = null }));
        history.Validations.Add(new ValidationRecord(4, 0.7, new() { ["liver"] = 0.85, ["spleen"] = 0.55 }));

        var (losses, dice) = (history.CurvePanels()[0], history.CurvePanels()[1]);
        Assert.Equal(["total", "sup1", "cps"], losses.Series.Select(s => s.Name)); // the headline terms only, in their order
        Assert.True(losses.LogY);
        Assert.Equal(("iteration", "loss (log scale)"), (losses.XLabel, losses.YLabel));
        Assert.Equal([(1.0, 2.0), (2.0, 1.0)], losses.Series[0].Points);
        Assert.Single(losses.Series[2].Points); // a term logged from iteration 2 on
        Assert.Equal(["mean", "liver", "spleen"], dice.Series.Select(s => s.Name));
        Assert.Equal((0.0, 1.0), dice.YRange);
        Assert.Equal([(4.0, 0.55)], dice.Series[2].Points); // a class absent from a validation is no point, not a zero
        Assert.True(dice.Markers);
    }
}
