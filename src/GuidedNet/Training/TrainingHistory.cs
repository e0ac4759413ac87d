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

    /// <summary>The fast parts the model's validation cases allowed, with each candidate's measurements; null until decided.</summary>
    public Inference.FastModeDecision? FastMode { get; set; }

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

    // Tableau's ten colours: distinct, and readable by most colour-blind viewers.
    private static readonly byte[][] Palette =
    {
        new byte[] { 31, 119, 180 }, new byte[] { 255, 127, 14 }, new byte[] { 44, 160, 44 }, new byte[] { 214, 39, 40 }, new byte[] { 148, 103, 189 },
        new byte[] { 140, 86, 75 }, new byte[] { 227, 119, 194 }, new byte[] { 127, 127, 127 }, new byte[] { 188, 189, 34 }, new byte[] { 23, 190, 207 },
    };

    // The loss terms curves.png draws, in legend order, where a run logs them: the objective and
    // what each network learns from labels, from the other network and from the CGMM. The finer
    // terms (dice1, ce1, proto1, ...) are in training.json; drawn too, they bury these.
    private static readonly string[] HeadlineTerms = ["total", "sup1", "sup2", "cps", "gmm1", "gmm2", "cons"];

    /// <summary>
    /// The two panels of curves.png: the headline loss terms per iteration on a log scale, and each
    /// validation's mean Dice (black) and Dice per class, on 0–1.
    /// </summary>
    public IReadOnlyList<ChartPanel> CurvePanels()
    {
        var logged = Iterations.SelectMany(i => i.Losses.Keys).ToHashSet();
        var terms = HeadlineTerms.Where(logged.Contains).ToList();
        var losses = terms.Select((name, i) => new ChartSeries(name,
            Iterations.Where(r => r.Losses.ContainsKey(name)).Select(r => ((double)r.Iteration, r.Losses[name])).ToList(),
            name == "total" ? new byte[] { 0, 0, 0 } : Palette[i % Palette.Length])).ToList();
        var classes = Validations.SelectMany(v => v.DiceByClass.Keys).Distinct().ToList();
        var dice = new List<ChartSeries>
        {
            new("mean", Validations.Where(v => v.MeanDice.HasValue).Select(v => ((double)v.Iteration, v.MeanDice!.Value)).ToList(), new byte[] { 0, 0, 0 }),
        };
        dice.AddRange(classes.Select((name, i) => new ChartSeries(name,
            Validations.Where(v => v.DiceByClass.GetValueOrDefault(name).HasValue).Select(v => ((double)v.Iteration, v.DiceByClass[name]!.Value)).ToList(),
            Palette[i % Palette.Length])));
        return
        [
            new ChartPanel("Training losses", "iteration", "loss (log scale)", losses, LogY: true),
            new ChartPanel("Validation Dice (the better network at each validation)", "iteration", "Dice", dice, YRange: (0, 1), Markers: true),
        ];
    }

    private void WriteCurves(string path) => LineChart.Write(path, CurvePanels());
}
