using System.Text.Json;
using System.Text.Json.Serialization;
using GuidedNet.Imaging;
using GuidedNet.Imaging.Rendering;

namespace GuidedNet.Training;

public sealed record IterationRecord(int Iteration, double LearningRate, Dictionary<string, double> Losses, double Seconds);

/// <summary>
/// One validation: the mean and per-class Dice of the better network (<paramref name="Network"/>, 1 or 2),
/// and every network's mean Dice (<paramref name="MeanDiceByNetwork"/>, one entry per trained network).
/// </summary>
public sealed record ValidationRecord(int Iteration, double? MeanDice, Dictionary<string, double?> DiceByClass, int Network = 1,
    double?[]? MeanDiceByNetwork = null);

/// <summary>
/// What <c>training.json</c> holds: the settings, every iteration's loss terms and learning rate,
/// each validation's Dice per class, the best iteration and the wall time; with curves.png beside it.
/// </summary>
public sealed class TrainingHistory
{
    public const string FileName = "training.json";
    public const string CurvesFileName = "curves.png";

    public List<IterationRecord> Iterations { get; init; } = new();
    public List<ValidationRecord> Validations { get; init; } = new();
    public int BestIteration { get; set; }
    public double? BestMeanDice { get; set; }

    /// <summary>The network (1 or 2) whose Dice made the best validation: the model's preferred network.</summary>
    public int BestNetwork { get; set; } = 1;
    public double WallSeconds { get; set; }
    public double LoaderWaitSeconds { get; set; }

    /// <summary>Steps computed again because their gradients came back non-finite (see Trainer.Step).</summary>
    public int RecomputedSteps { get; set; }

    /// <summary>The classes the kept model keeps only the largest component of, as decided on its validation predictions.</summary>
    public string[] KeepLargestComponent { get; set; } = [];

    /// <summary>
    /// Records a validation; true when it is the new best. A tie goes to the later checkpoint: a
    /// run whose Dice stays at 0.000 for a while keeps its latest model, not its first.
    /// </summary>
    public bool Record(ValidationRecord validation)
    {
        Validations.Add(validation);
        if (validation.MeanDice is not { } dice || (BestMeanDice is { } best && dice < best)) return false;
        BestMeanDice = dice;
        BestIteration = validation.Iteration;
        BestNetwork = validation.Network;
        return true;
    }

    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter() },
    };

    public void Write(string folder, TrainingOptions options, object data)
    {
        string path = Path.Combine(folder, FileName);
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(new { settings = options, data, history = this }, Json));
        WriteCurves(Path.Combine(folder, CurvesFileName));
    }

    /// <summary>Top: total loss (black), supervised losses (blue, orange). Bottom: validation mean Dice (green).</summary>
    private void WriteCurves(string path)
    {
        ChartSeries Loss(string name, byte r, byte g, byte b) => new(name,
            Iterations.Where(i => i.Losses.ContainsKey(name)).Select(i => ((double)i.Iteration, i.Losses[name])).ToList(), new[] { r, g, b });
        var losses = new List<ChartSeries> { Loss("total", 0, 0, 0), Loss("sup1", 31, 119, 180), Loss("sup2", 255, 127, 14) };
        var dice = new List<ChartSeries>
        {
            new("val_mean_dice", Validations.Where(v => v.MeanDice.HasValue).Select(v => ((double)v.Iteration, v.MeanDice!.Value)).ToList(), new byte[] { 44, 160, 44 }),
        };
        LineChart.Write(path, new[] { losses, dice });
    }
}
