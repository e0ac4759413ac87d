using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using GuidedNet.Experiment;
using GuidedNet.GpuJob.Cli;

// The semi-supervised experiments of docs/experiments.md, end to end through the guidednet command
// line: ~10% of the training cases labeled; supervised, CPS and GuidedNet on the same iteration
// budget, and supervised on every training label; with the authors' recipe (uniform crops, rot90 +
// flip) and the product's (foreground oversampling, nnU-Net augmentation, normalisation by
// modality); test Dice per class over seeds.
// Usage: dotnet run --project tools/Experiment -c Release [-- --data anatomy|phantoms
//        --iterations N --device cpu|cuda --seeds a,b --recipes product,reference[,product-uniform-crops,product-reference-augmentation,product-ct-normalization] --methods supervised,cps,guidednet,all --out DIR --report-only
//        --patch D,H,W --lr F --base-channels C --section NAME]
// On machines whose oneDNN AVX-512 backward returns NaN (docs/performance.md, "Numerical faults": training.json counts
// the steps it had to recompute), run it with ONEDNN_MAX_CPU_ISA=SSE41, ~4x slower.
string Arg(string name, string fallback)
{
    int i = Array.IndexOf(args, "--" + name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
}
int Int(string name, string fallback) => int.Parse(Arg(name, fallback), CultureInfo.InvariantCulture);
string I(int value) => value.ToString(CultureInfo.InvariantCulture);

string data = Arg("data", "anatomy");
bool anatomy = data == "anatomy";
int iterations = Int("iterations", anatomy ? "800" : "500");
var seeds = Arg("seeds", "1,2").Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
var recipes = Arg("recipes", anatomy ? "product,reference" : "reference").Split(',');
var methods = Arg("methods", "supervised,cps,guidednet,all").Split(',');
string root = Path.GetFullPath(Arg("out", $"artifacts/experiment-{data}"));
string docs = Arg("doc", "docs/experiments.md");
int width = Int("base-channels", "8");
// --device cuda trains and predicts on a GPU (the test metrics are then not bit-for-bit those of a CPU run).
string device = Arg("device", "cpu");
string patch = Arg("patch", anatomy ? "32,48,32" : "16,48,48");
string learningRate = Arg("lr", "0.1");
int trainingCases = anatomy ? 34 : 34, testCases = 6, labeled = 3;
string prefix = anatomy ? "macaque" : "phantom";
string[] validation = anatomy ? new[] { "macaque_032", "macaque_033" } : new[] { "phantom_030", "phantom_031", "phantom_032", "phantom_033" };
string dataset = Path.Combine(root, "dataset");
// --report-only: write the table from the runs already finished, training nothing.
bool reportOnly = args.Contains("--report-only");

void Cli(params string[] a)
{
    int code = GuidedNetCli.Run(a);
    if (code != 0) throw new InvalidOperationException($"guidednet {string.Join(' ', a)} failed with {code}");
}

var clock = Stopwatch.StartNew();
if (!File.Exists(Path.Combine(dataset, "dataset.json")))
{
    if (anatomy) AnatomyDataset.Write(dataset, trainingCases, testCases, seed: 19);
    else Cli("synth", "--out", dataset, "--cases", I(trainingCases), "--test", I(testCases), "--classes", "6", "--size", "64,64,32", "--seed", "11");
    Console.WriteLine($"dataset written to {dataset} ({clock.Elapsed:mm\\:ss})");
}
var labelNames = JsonDocument.Parse(File.ReadAllText(Path.Combine(dataset, "dataset.json"))).RootElement.GetProperty("labels")
    .EnumerateObject().Where(p => p.Value.GetInt32() > 0).OrderBy(p => p.Value.GetInt32()).Select(p => p.Name).ToArray();

var methodRuns = new Dictionary<string, (string Mode, int Labeled, string Title)>
{
    ["supervised"] = ("supervised", labeled, "supervised"),
    ["cps"] = ("cps", labeled, "cps"),
    ["guidednet"] = ("guidednet", labeled, "guidednet"),
    ["all"] = ("supervised", trainingCases - validation.Length, "supervised, all labels"),
};
// Each recipe's training switches. The product-* ablations put one part of the product recipe back to
// the authors' choice, to measure what that part buys or costs on its own.
string[] Switches(string foregroundFraction, string augmentation, string normalization) =>
    new[] { "--foreground-fraction", foregroundFraction, "--augmentation", augmentation, "--normalization", normalization };
var recipeArguments = new Dictionary<string, (string[] Arguments, string Description)>
{
    ["reference"] = (Switches("0", "reference", "ct"), "the authors' sampler (uniform crops, rot90 + flip) and CT-style normalisation (clip, dataset-wide z-score)"),
    ["product"] = (Switches("0.33", "nnunet", "auto"), "⅓ of the labeled patches on a present class, nnU-Net's augmentation, normalisation by modality (T1: z-score per case in the non-zero region)"),
    ["product-uniform-crops"] = (Switches("0", "nnunet", "auto"), "the product recipe with the authors' uniform crops (no foreground oversampling)"),
    ["product-reference-augmentation"] = (Switches("0.33", "reference", "auto"), "the product recipe with the authors' augmentation (rot90 + flip)"),
    ["product-ct-normalization"] = (Switches("0.33", "nnunet", "ct"), "the product recipe with CT-style normalisation"),
};
if (recipes.FirstOrDefault(r => !recipeArguments.ContainsKey(r)) is { } unknown)
    throw new ArgumentException($"--recipes: unknown recipe '{unknown}'; known: {string.Join(", ", recipeArguments.Keys)}");
var runs = recipes.SelectMany(r => methods.Select(m => (Recipe: r, Method: m, Run: methodRuns[m]))).ToList();
var results = new Dictionary<(string, string), List<double[]>>();
// Per row, the seeds it averages (a grid still being filled has rows of one seed beside rows of two) and their training wall times.
var finished = new Dictionary<(string, string), List<(int Seed, double WallSeconds)>>();
int recomputedSteps = 0, trainedSteps = 0;
foreach (int seed in seeds)
    foreach (var (recipe, method, run) in runs)
    {
        string folder = Path.Combine(root, $"seed{seed}", $"{recipe}-{method}");
        var start = clock.Elapsed;
        if (reportOnly && !File.Exists(Path.Combine(folder, "test", "metrics.json"))) continue;
        if (!File.Exists(Path.Combine(folder, "test", "metrics.json")))
        {
            var recipeArgs = recipeArguments[recipe].Arguments;
            // A grid outlives a session on a small machine: a run killed midway continues from its last
            // checkpoint (taken at every validation) with identical results instead of starting over.
            bool interrupted = File.Exists(Path.Combine(folder, GuidedNet.Training.Trainer.CheckpointFile));
            Cli(new[]
            {
                "train", "--dataset", dataset, "--out", folder, "--mode", run.Mode, "--labeled", I(run.Labeled),
                "--val-cases", string.Join(",", validation), "--iterations", I(iterations),
                "--patch", patch, "--batch", run.Mode == "supervised" ? "2" : "4", "--labeled-batch", "2",
                "--base-channels", I(width), "--rampup-iterations", I(iterations / 2),
                "--validate-every", I(iterations / 6), "--checkpoint-every", I(iterations / 6),
                "--lr", learningRate, "--seed", I(seed), "--device", device, "--cache", Path.Combine(root, "cache"),
            }.Concat(recipeArgs).Concat(interrupted ? new[] { "--resume" } : Array.Empty<string>()).ToArray());
            Cli("predict", "--model", Path.Combine(folder, "model.guidednet"), "--input", Path.Combine(dataset, "imagesTs"),
                "--output", Path.Combine(folder, "test"), "--device", device);
            Cli("evaluate", "--pred", Path.Combine(folder, "test"), "--truth", Path.Combine(dataset, "labelsTs"),
                "--labels", Path.Combine(dataset, "dataset.json"));
        }
        if (run.Mode != "supervised" && !File.Exists(Path.Combine(folder, "test-ensemble", "metrics.json")))
        {
            Cli("predict", "--model", Path.Combine(folder, "model.guidednet"), "--input", Path.Combine(dataset, "imagesTs"),
                "--output", Path.Combine(folder, "test-ensemble"), "--device", device, "--ensemble");
            Cli("evaluate", "--pred", Path.Combine(folder, "test-ensemble"), "--truth", Path.Combine(dataset, "labelsTs"),
                "--labels", Path.Combine(dataset, "dataset.json"));
        }
        var perClass = TestDice(Path.Combine(folder, "test"));
        (results.TryGetValue((recipe, method), out var list) ? list : results[(recipe, method)] = new()).Add(perClass);
        if (run.Mode != "supervised")
            (results.TryGetValue((recipe, method + "+ensemble"), out var e) ? e : results[(recipe, method + "+ensemble")] = new())
                .Add(TestDice(Path.Combine(folder, "test-ensemble")));
        using var training = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "training.json")));
        var history = training.RootElement.GetProperty("history");
        double wall = history.GetProperty("wallSeconds").GetDouble();
        recomputedSteps += history.TryGetProperty("recomputedSteps", out var r) ? r.GetInt32() : 0;
        trainedSteps += history.GetProperty("iterations").GetArrayLength();
        (finished.TryGetValue((recipe, method), out var f) ? f : finished[(recipe, method)] = new()).Add((seed, wall));
        Console.WriteLine($"seed {seed} {recipe} {run.Title}: test mean Dice {perClass.Where(double.IsFinite).Average():F4} ({clock.Elapsed - start:hh\\:mm\\:ss})");
    }

static double[] TestDice(string folder)
{
    using var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "metrics.json")));
    return metrics.RootElement.GetProperty("classes").EnumerateArray()
        .OrderBy(c => c.GetProperty("label").GetInt32())
        .Select(c => c.GetProperty("dice").TryGetProperty("mean", out var m) ? m.GetDouble() : double.NaN).ToArray();
}

static string MeanStd(IEnumerable<double> values)
{
    var v = values.Where(double.IsFinite).ToList();
    if (v.Count == 0) return "—";
    double mean = v.Average(), std = Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / v.Count);
    return v.Count > 1 ? $"{mean:F3} ± {std:F3}" : $"{mean:F3}";
}
double Mean(string recipe, string method) =>
    results.TryGetValue((recipe, method), out var r) ? r.Select(x => x.Where(double.IsFinite).Average()).Average() : double.NaN;

var md = new StringBuilder();
string cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown CPU";
// The command line as given (less where it wrote), so that the table can be reproduced with the same budget.
var given = args.Where((a, i) => a != "--report-only" && a is not ("--doc" or "--out") && (i == 0 || args[i - 1] is not ("--doc" or "--out")));
md.AppendLine($"Produced by `dotnet run --project tools/Experiment -c Release -- {string.Join(' ', given.DefaultIfEmpty($"--data {data}"))}` on {DateTime.UtcNow:yyyy-MM-dd} " +
              $"({Environment.ProcessorCount} cores, {cpu}; device {device}); " + (reportOnly ? "a report of the runs finished earlier (--report-only)." : $"total {clock.Elapsed:hh\\:mm\\:ss}."));
md.AppendLine();
md.AppendLine(anatomy
    ? $"- Data: {trainingCases + testCases} subjects warped from the INIA19 macaque T1 template (Debian `mricron-data`) at 1.5 mm, " +
      $"{labelNames.Length} NeuroMaps structures (left and right merged; shares of the voxels in the first test case: {AnatomyDataset.Shares(Directory.GetFiles(Path.Combine(dataset, "labelsTs")).Order().First())}), " +
      $"intensity gain over a 1.6× range, bias field and noise; channel T1. {trainingCases - validation.Length} training cases of which {labeled} keep their labels (~10%), " +
      $"{validation.Length} validation cases (model selection only), {testCases} test cases."
    : $"- Data: `guidednet synth` phantoms, 64×64×32 voxels, 6 classes; {trainingCases - validation.Length} training cases of which {labeled} keep their labels (~10%), " +
      $"{validation.Length} validation cases, {testCases} test cases.");
if (device == "cpu")
    md.AppendLine($"- Steps recomputed because their gradients were not finite (oneDNN's fault, docs/performance.md): {recomputedSteps} of {trainedSteps}.");
if (Environment.GetEnvironmentVariable("ONEDNN_MAX_CPU_ISA") is { } isa)
    md.AppendLine($"- oneDNN capped at {isa} (`ONEDNN_MAX_CPU_ISA`): on some machines of this kind its AVX-512 backward returns NaN (docs/performance.md, \"Numerical faults\").");
md.AppendLine($"- Training: {iterations} iterations for every method, patch {patch.Replace(',', '×')}, 2 labeled (+2 unlabeled) samples per batch, width {width}, " +
              $"SGD lr {learningRate} poly, λ 0.3, consistency 0.1 ramped over {iterations / 2} iterations, best validation checkpoint; seeds {string.Join(", ", seeds)}.");
md.AppendLine("- Recipes: " + string.Join("; ", recipes.Select(r => $"*{r}* = {recipeArguments[r].Description}")) + ".");
md.AppendLine("- Test: `guidednet predict` (the network validation preferred, or `--ensemble`: both networks averaged; 50% overlap) in each scan's own grid, then `guidednet evaluate`; Dice per structure, mean ± std over seeds.");
md.AppendLine();
md.Append("| recipe | method | seeds | ");
md.Append(string.Join(" | ", labelNames));
// Wall time of the fastest seed: a run paused or sharing the CPU with other work reads longer.
md.AppendLine(" | mean Dice | train time (s), fastest seed |");
md.Append("|---|---|---|");
md.Append(string.Concat(Enumerable.Repeat("---:|", labelNames.Length)));
md.AppendLine("---:|---:|");
foreach (var (recipe, method, run) in runs.DistinctBy(r => (r.Recipe, r.Method)))
    foreach (var (key, title) in new[] { (method, run.Title), (method + "+ensemble", run.Title + " (ensemble of both networks)") })
    {
        if (!results.TryGetValue((recipe, key), out var r)) continue;
        md.Append($"| {recipe} | {title} | {string.Join(", ", finished[(recipe, method)].Select(x => x.Seed))} | ");
        md.Append(string.Join(" | ", Enumerable.Range(0, labelNames.Length).Select(k => MeanStd(r.Select(x => k < x.Length ? x[k] : double.NaN)))));
        md.AppendLine($" | **{MeanStd(r.Select(x => x.Where(double.IsFinite).Average()))}** | {finished[(recipe, method)].Min(x => x.WallSeconds):F0} |");
    }
md.AppendLine();
foreach (string recipe in recipes)
{
    double sup = Mean(recipe, "supervised"), all = Mean(recipe, "all"), guided = Mean(recipe, "guidednet");
    if (double.IsFinite(sup) && double.IsFinite(all) && double.IsFinite(guided))
        md.AppendLine($"- {recipe}: supervised on all labels {all:F3}, on {labeled} labels {sup:F3}; GuidedNet − supervised (same labels) {guided - sup:+0.000;-0.000}; " +
                      (all - sup >= 0.01
                          ? $"share of the gap to all labels closed by GuidedNet: {(guided - sup) / (all - sup):P0}."
                          : "the gap to all labels is not measurable: at this budget all labels are no better than the few."));
}

// --section NAME writes a table of its own (an ablation beside the main grid) instead of replacing the data set's.
string section = $"experiment:{Arg("section", data)}";
string begin = $"<!-- {section} -->", end = $"<!-- /{section} -->";
string existing = File.Exists(docs) ? File.ReadAllText(docs) : "# Experiments\n";
string block = $"{begin}\n{md.ToString().TrimEnd()}\n{end}";
int at = existing.IndexOf(begin, StringComparison.Ordinal), stop = existing.IndexOf(end, StringComparison.Ordinal);
string updated = at >= 0 && stop > at ? existing[..at] + block + existing[(stop + end.Length)..] : existing.TrimEnd() + "\n\n" + block + "\n";
Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(docs))!);
File.WriteAllText(docs, updated);
Console.WriteLine(md);
