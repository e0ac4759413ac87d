using GuidedNet.Imaging;
using GuidedNet.Pipeline.Contracts;
using GuidedNet.Pipeline.Orchestrations;
using GuidedNet.Pipeline.Results;
using GuidedNet.Pipeline.Storage;

namespace GuidedNet.Pipeline.Api;

/// <summary>A file an API route streams: the caller copies <see cref="Content"/> to the response and disposes it.</summary>
public sealed record ApiFile(Stream Content, string ContentType, long Length, string FileName);

/// <summary>
/// The read-only routes the results viewer reads, for both hosts: projects → cases → one case's
/// report and its files; models with their metrics, card and curves. Every list is bounded (a page
/// of at most <see cref="MaxPage"/> items), every document read has a size limit, every name in a
/// route is checked before it becomes part of a blob path. A case's files are addressed by the run
/// that made them, and the scan is read at the pin its report names, so a mask is only ever shown
/// over the bytes it was computed from.
/// </summary>
public sealed class ResultsApi(PipelineStorage storage)
{
    public const int MaxPage = 500;

    /// <summary>The largest JSON document (summary, report, metrics, label table) a route reads.</summary>
    public const long MaxDocumentBytes = 64L * 1024 * 1024;

    /// <summary>What a case's files are called in routes, and where its report says each one is.</summary>
    public static readonly IReadOnlyList<string> CaseFiles = ["scan", "mask", "preview", "labels", "report"];

    /// <summary>What a model version's files are called in routes.</summary>
    public static readonly IReadOnlyDictionary<string, (string Blob, string ContentType)> ModelFiles = new Dictionary<string, (string, string)>
    {
        ["card"] = (BlobLayout.ModelCardFile, "text/markdown; charset=utf-8"),
        ["curves"] = (BlobLayout.CurvesFile, "image/png"),
        ["metrics"] = (BlobLayout.MetricsFile, "application/json"),
        ["training"] = (BlobLayout.TrainingFile, "application/json"),
    };

    /// <summary>Project names (folders of the results container), at most <see cref="MaxPage"/>.</summary>
    public async Task<ApiResult> ListProjectsAsync(CancellationToken cancellation = default)
    {
        var (names, truncated) = await storage.ListFoldersAsync(BlobLayout.Results + "/", MaxPage, cancellation);
        return new ApiResult(200, new { projects = names.Where(BlobLayout.IsValidName), truncated });
    }

    /// <summary>One page of a project's summary rows (<paramref name="skip"/>, <paramref name="take"/> ≤ <see cref="MaxPage"/>).</summary>
    public async Task<ApiResult> ListCasesAsync(string project, int skip = 0, int take = 100, CancellationToken cancellation = default)
    {
        if (Refused(("project", project)) is { } refused) return refused;
        if (skip < 0 || take is < 1 or > MaxPage) return ApiResult.Error(400, $"skip: 0 or more; take: 1 to {MaxPage}");
        var summary = await ReadDocumentAsync<ProjectSummary>(BlobLayout.Summary(project), cancellation);
        if (summary is null) return ApiResult.Error(404, $"project '{project}' has no results yet");
        return new ApiResult(200, new
        {
            summary.Project, summary.UpdatedUtc, summary.Cases, summary.MeanDice, skip, take,
            rows = summary.Reports.Skip(skip).Take(take).Select(r => new
            {
                r.Case, r.Latest.Run, r.ModelVersion, r.MeanDice, r.Organs, r.CreatedUtc,
            }),
        });
    }

    /// <summary>A case's latest result: the run, its report and its label table.</summary>
    public async Task<ApiResult> GetCaseAsync(string project, string caseName, CancellationToken cancellation = default)
    {
        if (Refused(("project", project), ("case", caseName)) is { } refused) return refused;
        var latest = await ReadDocumentAsync<LatestResult>(BlobLayout.LatestResult(project, caseName), cancellation);
        if (latest is null) return ApiResult.Error(404, $"case '{caseName}' of project '{project}' has no result");
        var report = await ReadDocumentAsync<ScanReport>(latest.Report, cancellation);
        if (report is null) return ApiResult.Error(404, $"{latest.Report}: the report the case's latest result names is missing");
        // The run's result folder (its scan's content key) addresses its files.
        string run = RunIds.LastPart(latest.Run);
        string files = $"/api/projects/{project}/cases/{caseName}/runs/{run}/";
        return new ApiResult(200, new
        {
            project, @case = caseName, run, runId = latest.Run, report,
            viewable = !ScanFileNames.IsDicomZip(report.Scan.Path),
            files = CaseFiles.ToDictionary(f => f, f => files + f),
        });
    }

    /// <summary>
    /// One file of one run of a case: <c>scan</c> (the pinned bytes the run segmented), <c>mask</c>,
    /// <c>preview</c>, <c>labels</c> or <c>report</c>. 404 names what is missing; 409 when the
    /// scan's pinned bytes are no longer stored.
    /// </summary>
    public async Task<ApiResult> OpenCaseFileAsync(string project, string caseName, string run, string file, CancellationToken cancellation = default)
    {
        if (Refused(("project", project), ("case", caseName), ("run", run)) is { } refused) return refused;
        if (!CaseFiles.Contains(file)) return ApiResult.Error(404, $"a case's files are {string.Join(", ", CaseFiles)}");
        string reportPath = BlobLayout.Report(BlobLayout.ResultPrefix(project, caseName, run));
        var report = await ReadDocumentAsync<ScanReport>(reportPath, cancellation);
        if (report is null) return ApiResult.Error(404, $"run '{run}' has no result for case '{caseName}' of project '{project}'");
        if (file == "scan")
        {
            if (ScanFileNames.IsDicomZip(report.Scan.Path))
                return ApiResult.Error(415, $"{report.Scan.Path}: a DICOM series; the viewer shows NIfTI scans (the mask is also written as DICOM SEG: {report.Seg ?? "none"})");
            return await storage.OpenPinnedAsync(report.Scan, cancellation) is { } scan
                ? new ApiResult(200, new ApiFile(scan.Content, "application/octet-stream", scan.Length, caseName + ScanFileNames.Extension(report.Scan.Path)))
                : ApiResult.Error(409, $"{report.Scan.Path}: the bytes run '{run}' segmented are no longer stored (removed or replaced since)");
        }
        (string? path, string contentType, string name) = file switch
        {
            "mask" => (report.Mask, "application/octet-stream", $"{caseName}_mask{ScanFileNames.Extension(report.Mask)}"),
            "preview" => (report.Preview, "image/png", $"{caseName}_preview.png"),
            "labels" => (report.Labels, "application/json", "labels.json"),
            _ => (reportPath, "application/json", "report.json"),
        };
        if (path is null) return ApiResult.Error(404, $"run '{run}' wrote no {file} for case '{caseName}'");
        return await OpenAsync(path, contentType, name, cancellation);
    }

    /// <summary>
    /// The project's quarantined drops, newest first: each case and run with the reason naming the
    /// file and the problem (at most <see cref="MaxPage"/> of the blobs under the quarantine are looked at).
    /// </summary>
    public async Task<ApiResult> ListQuarantinedAsync(string project, CancellationToken cancellation = default)
    {
        if (Refused(("project", project)) is { } refused) return refused;
        var (blobs, next) = await storage.ListPageAsync($"{BlobLayout.Quarantine}/{Quarantine.ScanArea(project)}/", null, MaxPage, cancellation);
        var records = new List<QuarantineRecord>();
        foreach (var blob in blobs.Where(b => b.Path.EndsWith("/reason.json", StringComparison.Ordinal)))
            if (await ReadDocumentAsync<QuarantineRecord>(blob.Path, cancellation) is { } record)
                records.Add(record);
        return new ApiResult(200, new
        {
            project,
            quarantined = records.OrderByDescending(r => r.QuarantinedUtc).Select(r => new { @case = r.Name, r.Run, r.Reason, r.Files, r.QuarantinedUtc, r.Complete }),
            truncated = next is not null,
        });
    }

    /// <summary>Datasets that have models (folders of the models container), at most <see cref="MaxPage"/>.</summary>
    public async Task<ApiResult> ListModelsAsync(CancellationToken cancellation = default)
    {
        var (names, truncated) = await storage.ListFoldersAsync(BlobLayout.Models + "/", MaxPage, cancellation);
        return new ApiResult(200, new { datasets = names.Where(BlobLayout.IsValidName), truncated });
    }

    /// <summary>A dataset's production model and its newest versions (at most <see cref="MaxPage"/>) with their metrics.</summary>
    public async Task<ApiResult> GetModelsAsync(string dataset, int take = 20, CancellationToken cancellation = default)
    {
        if (Refused(("dataset", dataset)) is { } refused) return refused;
        if (take is < 1 or > MaxPage) return ApiResult.Error(400, $"take: 1 to {MaxPage}");
        var production = await ReadDocumentAsync<ProductionModel>(BlobLayout.Production(dataset), cancellation);
        // Versions are named by time (sortable), so the newest are the last listed.
        var (versions, _) = await storage.ListFoldersAsync(BlobLayout.Models + $"/{dataset}/", int.MaxValue, cancellation);
        var newest = versions.Where(BlobLayout.IsValidName).Reverse().Take(take).ToList();
        var metrics = await Task.WhenAll(newest.Select(v => ReadDocumentAsync<ModelMetrics>(BlobLayout.ModelPrefix(dataset, v) + BlobLayout.MetricsFile, cancellation)));
        if (production is null && newest.Count == 0) return ApiResult.Error(404, $"dataset '{dataset}' has no models");
        return new ApiResult(200, new
        {
            dataset, production,
            versions = newest.Select((v, i) => new
            {
                version = v, metrics = metrics[i],
                files = ModelFiles.Keys.ToDictionary(f => f, f => $"/api/models/{dataset}/{v}/{f}"),
            }),
        });
    }

    /// <summary>One file of a model version: <c>card</c>, <c>curves</c>, <c>metrics</c> or <c>training</c>.</summary>
    public async Task<ApiResult> OpenModelFileAsync(string dataset, string version, string file, CancellationToken cancellation = default)
    {
        if (Refused(("dataset", dataset), ("version", version)) is { } refused) return refused;
        if (!ModelFiles.TryGetValue(file, out var known)) return ApiResult.Error(404, $"a model's files are {string.Join(", ", ModelFiles.Keys)}");
        return await OpenAsync(BlobLayout.ModelPrefix(dataset, version) + known.Blob, known.ContentType, known.Blob, cancellation);
    }

    private async Task<ApiResult> OpenAsync(string path, string contentType, string name, CancellationToken cancellation) =>
        await storage.OpenReadAsync(path, cancellation) is { } blob
            ? new ApiResult(200, new ApiFile(blob.Content, contentType, blob.Length, name))
            : ApiResult.Error(404, $"{BlobLayout.Shown(path)}: not found");

    /// <exception cref="InvalidDataException">the blob is not the document it should be (named in the message)</exception>
    private async Task<T?> ReadDocumentAsync<T>(string path, CancellationToken cancellation) where T : class
    {
        var content = await storage.ReadContentAsync(path, MaxDocumentBytes, cancellation);
        if (content is null) return null;
        try
        {
            return System.Text.Json.JsonSerializer.Deserialize<T>(content.Bytes, PipelineStorage.Json);
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new InvalidDataException($"{BlobLayout.Shown(path)}: not a readable {typeof(T).Name} ({e.Message})", e);
        }
    }

    private static ApiResult? Refused(params (string What, string Value)[] names) =>
        names.FirstOrDefault(n => !BlobLayout.IsValidName(n.Value)) is { What: { } what } bad
            ? ApiResult.Error(400, $"{what} name: {BlobLayout.NameRule}")
            : null;
}
