using System.Text.Json;
using System.Text.Json.Nodes;

namespace GuidedNet.Imaging.Labels;

/// <summary>One label of a mask: its value, its name and the colour viewers and previews draw it in.</summary>
public sealed record LabelEntry(int Value, string Name, byte[] Colour);

/// <summary>
/// What the values of a mask mean: the table written beside every mask as <c>labels.json</c>
/// (MSD's <c>"labels": {"1": "liver"}</c>, which <c>evaluate --labels</c> and nnU-Net read, plus
/// each label's colour), and the organ names of the FLARE22 and AMOS tasks, so that the authors'
/// weights come with them.
/// </summary>
public sealed class LabelTable
{
    public const string FileName = "labels.json";

    private static readonly byte[][] Palette =
    {
        new byte[] { 230, 25, 75 }, new byte[] { 60, 180, 75 }, new byte[] { 255, 225, 25 }, new byte[] { 0, 130, 200 },
        new byte[] { 245, 130, 48 }, new byte[] { 145, 30, 180 }, new byte[] { 70, 240, 240 }, new byte[] { 240, 50, 230 },
        new byte[] { 210, 245, 60 }, new byte[] { 250, 190, 212 }, new byte[] { 0, 128, 128 }, new byte[] { 220, 190, 255 },
        new byte[] { 170, 110, 40 }, new byte[] { 255, 250, 200 }, new byte[] { 128, 0, 0 }, new byte[] { 170, 255, 195 },
    };

    // FLARE22's label values (its dataset.json), which the authors' FLARE22 weights predict.
    private static readonly string[] Flare22 =
    {
        "background", "liver", "right kidney", "spleen", "pancreas", "aorta", "inferior vena cava", "right adrenal gland",
        "left adrenal gland", "gallbladder", "esophagus", "stomach", "duodenum", "left kidney",
    };

    // AMOS 2022's label values (its dataset.json).
    private static readonly string[] Amos =
    {
        "background", "spleen", "right kidney", "left kidney", "gallbladder", "esophagus", "liver", "stomach", "aorta",
        "inferior vena cava", "pancreas", "right adrenal gland", "left adrenal gland", "duodenum", "bladder", "prostate/uterus",
    };

    private LabelTable(IReadOnlyList<LabelEntry> entries) => Entries = entries;

    /// <summary>The foreground labels (value 1 and up), by value.</summary>
    public IReadOnlyList<LabelEntry> Entries { get; }

    /// <summary>The colour a label is drawn in when its table gives none: one palette for previews, viewers and DICOM SEG.</summary>
    public static byte[] DefaultColour(int value) => Palette[(value - 1) % Palette.Length];

    /// <summary>A table from names indexed by value (index 0, background, is not a label); a missing or empty name becomes <c>class_N</c>.</summary>
    public static LabelTable FromNames(IReadOnlyList<string?> namesByValue, int numClasses) =>
        new(Enumerable.Range(1, numClasses - 1)
            .Select(v => new LabelEntry(v, v < namesByValue.Count && !string.IsNullOrWhiteSpace(namesByValue[v]) ? namesByValue[v]! : $"class_{v}", DefaultColour(v)))
            .ToList());

    /// <summary>The organ names of a task preset (flare22, amos) when the class count is the task's; else null.</summary>
    public static string[]? PresetNames(string preset, int numClasses) => preset.ToLowerInvariant() switch
    {
        "flare22" when numClasses == Flare22.Length => Flare22,
        "amos" when numClasses == Amos.Length => Amos,
        _ => null,
    };

    public string NameOf(int value) => Entries.FirstOrDefault(e => e.Value == value)?.Name ?? $"class_{value}";

    /// <summary>The labels named in <paramref name="names"/> (as in <c>--roi liver,spleen</c>); an unknown name is refused, listing the known ones.</summary>
    public LabelTable Subset(IEnumerable<string> names)
    {
        var wanted = names.Select(n => n.Trim()).Where(n => n.Length > 0).ToList();
        var unknown = wanted.Where(n => !Entries.Any(e => string.Equals(e.Name, n, StringComparison.OrdinalIgnoreCase))).ToList();
        if (unknown.Count > 0)
            throw new ArgumentException($"unknown label name(s) {string.Join(", ", unknown.Select(n => $"'{n}'"))}; this model's labels are {string.Join(", ", Entries.Select(e => e.Name))}");
        return new LabelTable(Entries.Where(e => wanted.Contains(e.Name, StringComparer.OrdinalIgnoreCase)).ToList());
    }

    /// <summary>A name made safe as a file name (<c>right kidney</c> → <c>right_kidney</c>).</summary>
    public static string FileSafe(string name) =>
        new(name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' ? c : '_').ToArray());

    public void Write(string path)
    {
        var labels = new JsonObject { ["0"] = "background" };
        var colours = new JsonObject();
        foreach (var e in Entries)
        {
            labels[e.Value.ToString(System.Globalization.CultureInfo.InvariantCulture)] = e.Name;
            colours[e.Value.ToString(System.Globalization.CultureInfo.InvariantCulture)] = new JsonArray(e.Colour.Select(c => (JsonNode)(int)c).ToArray());
        }
        var json = new JsonObject { ["labels"] = labels, ["colours"] = colours };
        AtomicFile.WriteAllText(path, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }
}
