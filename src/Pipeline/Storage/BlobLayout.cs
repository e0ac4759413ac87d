using GuidedNet.Imaging;

namespace GuidedNet.Pipeline.Storage;

/// <summary>
/// Where everything lives in the storage account. Paths are "container/name" strings so that
/// messages and orchestration history carry them as plain text.
/// </summary>
public static class BlobLayout
{
    public const string Scans = "scans";
    public const string Datasets = "datasets";
    public const string Models = "models";
    public const string Jobs = "jobs";
    public const string Results = "results";
    public const string Quarantine = "quarantine";

    public static readonly string[] Containers = { Scans, Datasets, Models, Jobs, Results, Quarantine };

    public const string IncomingPrefix = "incoming/";
    public const string LabelsPrefix = "labels/";

    public static string IncomingScan(string project, string file) => $"{Scans}/{IncomingPrefix}{project}/{file}";
    /// <summary>A scan's ground truth or reviewed label, dropped beside the drop zone.</summary>
    public static string ScanLabel(string project, string caseName) => $"{Scans}/{LabelsPrefix}{project}/{caseName}.nii.gz";

    public static string DatasetPrefix(string dataset) => $"{Datasets}/{dataset}/";
    public static string DatasetJson(string dataset) => $"{Datasets}/{dataset}/dataset.json";
    /// <summary>A dropped scan's place in the unlabeled pool, in the form it was dropped (NIfTI, or a series zip).</summary>
    public static string TrainingImage(string dataset, string caseName, string droppedPath = ".nii.gz") =>
        $"{Datasets}/{dataset}/imagesTr/{caseName}_0000{ScanFileNames.Extension(droppedPath)}";
    /// <summary>Where a reviewed label joins the dataset, keeping its form (.nii or .nii.gz).</summary>
    public static string TrainingLabel(string dataset, string caseName, string droppedPath = ".nii.gz") =>
        $"{Datasets}/{dataset}/labelsTr/{caseName}{ScanFileNames.Extension(droppedPath)}";
    /// <summary>Where a label that joined from review came from (<c>LabelProvenance</c>).</summary>
    public static string LabelProvenance(string dataset, string caseName) => $"{Datasets}/{dataset}/provenance/{caseName}.json";
    public static string Manifest(string dataset, string version) => $"{Datasets}/{dataset}/manifests/{version}.json";

    public static string ModelPrefix(string dataset, string version) => $"{Models}/{dataset}/{version}/";
    public static string Production(string dataset) => $"{Models}/{dataset}/production.json";
    public const string ModelFile = "model.guidednet";
    public const string MetricsFile = "metrics.json";
    public const string TrainingFile = "training.json";
    public const string CurvesFile = "curves.png";
    public const string ModelCardFile = "model-card.md";

    /// <summary>The one training run of a dataset that may be active (<c>ActiveTrainingRun</c>).</summary>
    public static string ActiveTrainingRun(string dataset) => $"{Models}/{dataset}/active-run.json";

    public static string CaseResults(string project, string caseName) => $"{Results}/{project}/{caseName}/";

    /// <summary>A run's own result folder: <c>results/&lt;project&gt;/&lt;case&gt;/&lt;run&gt;/</c>, written by that run only.</summary>
    public static string ResultPrefix(string project, string caseName, string run) => $"{CaseResults(project, caseName)}{run}/";

    public static string Report(string resultPrefix) => resultPrefix + "report.json";
    public static string LatestResult(string project, string caseName) => $"{CaseResults(project, caseName)}latest.json";
    public static string Summary(string project) => $"{Results}/{project}/summary.json";
    public static string SummaryCsv(string project) => $"{Results}/{project}/summary.csv";

    /// <summary>Where one run quarantines one input: a folder per run, so an earlier quarantined copy is never overwritten.</summary>
    public static string QuarantinePrefix(string area, string name, string run) => $"{Quarantine}/{area}/{name}/{run}/";

    /// <summary>
    /// Splits "container/name". A name with empty, "." or ".." segments (or a backslash or control
    /// character) is refused: the storage URL would normalise it and the blob would land somewhere
    /// else than it was named (<c>results/p/a/../../../models/x</c> is <c>models/x</c>).
    /// </summary>
    public static (string Container, string Name) Split(string path)
    {
        int slash = path.IndexOf('/');
        if (slash <= 0 || slash == path.Length - 1) throw new ArgumentException($"'{Shown(path)}' is not a container/name blob path");
        string name = path[(slash + 1)..];
        if (BadSegments(name, trailingSlash: false)) throw new ArgumentException($"'{Shown(path)}' is not a valid blob path: empty, '.' or '..' segments, backslashes and control characters are not allowed");
        return (path[..slash], name);
    }

    /// <summary>Splits a "container/prefix" for listing: the prefix may be empty or end with '/', and is otherwise held to the rules of <see cref="Split"/>.</summary>
    public static (string Container, string NamePrefix) SplitPrefix(string prefix)
    {
        int slash = prefix.IndexOf('/');
        if (slash < 0) return (prefix, "");
        string name = prefix[(slash + 1)..];
        if (name.Length > 0 && BadSegments(name, trailingSlash: true))
            throw new ArgumentException($"'{Shown(prefix)}' is not a valid blob prefix: empty, '.' or '..' segments, backslashes and control characters are not allowed");
        return (prefix[..slash], name);
    }

    private static bool BadSegments(string name, bool trailingSlash)
    {
        if (name.Any(c => c == '\\' || char.IsControl(c))) return true;
        var segments = name.Split('/');
        int count = trailingSlash && name.EndsWith('/') ? segments.Length - 1 : segments.Length;
        return segments.Take(count).Any(s => s is "" or "." or "..");
    }

    /// <summary>A path as error messages show it: never more than 200 characters of what a caller sent.</summary>
    public static string Shown(string path) => path.Length <= 200 ? path : path[..200] + "…";

    /// <summary>What <see cref="IsValidName"/> accepts, as error messages state it.</summary>
    public const string NameRule = "1–64 letters, digits, '-', '_' or '.', not starting with '.'";

    /// <summary>Names of projects, datasets and cases: what is safe in a blob path and an instance id.</summary>
    public static bool IsValidName(string name) =>
        name.Length is > 0 and <= 64 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.') && name[0] != '.';
}
