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

    public static string IncomingScan(string project, string file) => $"{Scans}/{IncomingPrefix}{project}/{file}";
    public static string ScanLabel(string project, string caseName) => $"{Scans}/labels/{project}/{caseName}.nii.gz";

    public static string DatasetPrefix(string dataset) => $"{Datasets}/{dataset}/";
    public static string DatasetJson(string dataset) => $"{Datasets}/{dataset}/dataset.json";
    public static string TrainingImage(string dataset, string caseName) => $"{Datasets}/{dataset}/imagesTr/{caseName}_0000.nii.gz";
    public static string Manifest(string dataset, string version) => $"{Datasets}/{dataset}/manifests/{version}.json";

    public static string ModelPrefix(string dataset, string version) => $"{Models}/{dataset}/{version}/";
    public static string Production(string dataset) => $"{Models}/{dataset}/production.json";
    public const string ModelFile = "model.guidednet";
    public const string MetricsFile = "metrics.json";
    public const string TrainingFile = "training.json";
    public const string CurvesFile = "curves.png";
    public const string ModelCardFile = "model-card.md";

    public static string JobFile(string jobId) => $"{Jobs}/{jobId}/job.json";
    public static string JobStatus(string jobId) => $"{Jobs}/{jobId}/status.json";
    public static string JobCancel(string jobId) => $"{Jobs}/{jobId}/cancel.json";
    public static string JobCheckpoint(string jobId) => $"{Jobs}/{jobId}/checkpoints/checkpoint.zip";
    public static string JobLog(string jobId) => $"{Jobs}/{jobId}/log.txt";

    public static string ResultPrefix(string project, string caseName) => $"{Results}/{project}/{caseName}/";
    public static string Report(string resultPrefix) => resultPrefix + "report.json";
    public static string Summary(string project) => $"{Results}/{project}/summary.json";
    public static string SummaryCsv(string project) => $"{Results}/{project}/summary.csv";

    public static string QuarantinePrefix(string area, string name) => $"{Quarantine}/{area}/{name}/";

    /// <summary>Splits "container/name".</summary>
    public static (string Container, string Name) Split(string path)
    {
        int slash = path.IndexOf('/');
        if (slash <= 0 || slash == path.Length - 1) throw new ArgumentException($"'{path}' is not a container/name blob path");
        return (path[..slash], path[(slash + 1)..]);
    }

    /// <summary>Names of projects, datasets and cases: what is safe in a blob path and an instance id.</summary>
    public static bool IsValidName(string name) =>
        name.Length is > 0 and <= 64 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.') && name[0] != '.';
}
