using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace GuidedNet.Evaluation;

public sealed record CaseMetrics(string Case, IReadOnlyList<ClassMetrics> Classes);

/// <summary>Mean and population standard deviation of one metric of one class over the cases where it is defined.</summary>
public sealed record Summary(double? Mean, double? Std, int Cases);

public sealed record ClassSummary(int Label, string Name, Summary Dice, Summary Jaccard, Summary Hd95, Summary Hd, Summary Asd, Summary Assd, Summary Nsd);

/// <summary>
/// Per-case, per-class metrics and their per-class mean and standard deviation. Absent classes
/// (in neither prediction nor truth) are left out of the means, as are distances of classes that
/// one side lacks.
/// </summary>
public sealed class MetricsReport
{
    /// <param name="nsdToleranceMm">The tolerance the cases' NSD was computed at, recorded with it.</param>
    public MetricsReport(IReadOnlyList<CaseMetrics> cases, IReadOnlyDictionary<int, string> classNames, double nsdToleranceMm = SegmentationMetrics.DefaultNsdToleranceMm)
    {
        Cases = cases;
        NsdToleranceMm = nsdToleranceMm;
        ClassNames = classNames;
        var labels = cases.SelectMany(c => c.Classes.Select(m => m.Label)).Distinct().Order().ToList();
        Classes = labels.Select(label =>
        {
            var present = cases.SelectMany(c => c.Classes).Where(m => m.Label == label && !m.Absent).ToList();
            Summary Of(Func<ClassMetrics, double?> pick) => Summarise(present.Select(pick));
            return new ClassSummary(label, NameOf(label), Of(m => m.Dice), Of(m => m.Jaccard), Of(m => m.Hd95), Of(m => m.Hd), Of(m => m.Asd), Of(m => m.Assd), Of(m => m.Nsd));
        }).ToList();
    }

    public IReadOnlyList<CaseMetrics> Cases { get; }
    public IReadOnlyDictionary<int, string> ClassNames { get; }
    public IReadOnlyList<ClassSummary> Classes { get; }
    public double NsdToleranceMm { get; }

    /// <summary>Mean over classes of the per-class mean Dice.</summary>
    public double? MeanDice => Classes.Where(c => c.Dice.Mean.HasValue).Select(c => c.Dice.Mean!.Value).DefaultIfEmpty(double.NaN).Average() is var m && double.IsNaN(m) ? null : m;

    private string NameOf(int label) => ClassNames.TryGetValue(label, out var n) ? n : $"class_{label}";

    private static Summary Summarise(IEnumerable<double?> values)
    {
        var v = values.Where(x => x.HasValue).Select(x => x!.Value).ToList();
        if (v.Count == 0) return new Summary(null, null, 0);
        double mean = v.Average();
        return new Summary(mean, Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / v.Count), v.Count);
    }

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public string ToJson() => JsonSerializer.Serialize(new
    {
        meanDice = MeanDice,
        nsdToleranceMm = NsdToleranceMm,
        classes = Classes,
        cases = Cases.Select(c => new
        {
            @case = c.Case,
            classes = c.Classes.Select(m => new
            {
                label = m.Label,
                name = NameOf(m.Label),
                absent = m.Absent,
                m.Dice, m.Jaccard, hd95Mm = m.Hd95, hdMm = m.Hd, asdMm = m.Asd, assdMm = m.Assd, m.Nsd,
                m.PredictedVoxels, m.TruthVoxels,
            }),
        }),
    }, Json);

    /// <summary>One row per case and class, then a mean and a std row per class; empty cells where undefined.</summary>
    public string ToCsv()
    {
        static string F(double? v) => v?.ToString("R", CultureInfo.InvariantCulture) ?? "";
        var sb = new StringBuilder($"case,label,name,absent,dice,jaccard,hd95_mm,hd_mm,asd_mm,assd_mm,nsd_{NsdToleranceMm.ToString(CultureInfo.InvariantCulture)}mm\n");
        foreach (var c in Cases)
            foreach (var m in c.Classes)
                sb.Append(CultureInfo.InvariantCulture, $"{c.Case},{m.Label},{NameOf(m.Label)},{(m.Absent ? 1 : 0)},{F(m.Dice)},{F(m.Jaccard)},{F(m.Hd95)},{F(m.Hd)},{F(m.Asd)},{F(m.Assd)},{F(m.Nsd)}\n");
        foreach (var s in Classes)
        {
            sb.Append(CultureInfo.InvariantCulture, $"mean,{s.Label},{s.Name},,{F(s.Dice.Mean)},{F(s.Jaccard.Mean)},{F(s.Hd95.Mean)},{F(s.Hd.Mean)},{F(s.Asd.Mean)},{F(s.Assd.Mean)},{F(s.Nsd.Mean)}\n");
            sb.Append(CultureInfo.InvariantCulture, $"std,{s.Label},{s.Name},,{F(s.Dice.Std)},{F(s.Jaccard.Std)},{F(s.Hd95.Std)},{F(s.Hd.Std)},{F(s.Asd.Std)},{F(s.Assd.Std)},{F(s.Nsd.Std)}\n");
        }
        return sb.ToString();
    }

    public string ToTable()
    {
        static string Cell(Summary s, string format) => s.Mean is { } m ? $"{m.ToString(format, CultureInfo.InvariantCulture)} ± {s.Std!.Value.ToString(format, CultureInfo.InvariantCulture)}" : "—";
        var sb = new StringBuilder();
        string nsd = $"NSD {NsdToleranceMm.ToString(CultureInfo.InvariantCulture)} mm";
        sb.AppendLine($"{"class",-22} {"cases",5}  {"Dice",-17} {nsd,-17} {"HD95 mm",-17} {"ASD mm",-17}");
        foreach (var s in Classes)
            sb.AppendLine($"{s.Label + " " + s.Name,-22} {s.Dice.Cases,5}  {Cell(s.Dice, "F4"),-17} {Cell(s.Nsd, "F4"),-17} {Cell(s.Hd95, "F2"),-17} {Cell(s.Asd, "F2"),-17}");
        sb.AppendLine(MeanDice is { } md ? $"mean Dice over classes: {md.ToString("F4", CultureInfo.InvariantCulture)}" : "mean Dice over classes: —");
        return sb.ToString();
    }
}
