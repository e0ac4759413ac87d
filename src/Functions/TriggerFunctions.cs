using System.Net;
using System.Text.Json;
using Azure.Storage.Blobs;
using GuidedNet.Pipeline.Api;
using GuidedNet.Pipeline.Datasets;
using GuidedNet.Pipeline.Jobs;
using GuidedNet.Pipeline.Options;
using GuidedNet.Pipeline.Scheduling;
using GuidedNet.Pipeline.Storage;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Azure.Functions.Worker.Http;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Logging;

namespace GuidedNet.Functions;

/// <summary>How work starts in Azure: a blob in the drop zone, the retraining schedule, and the HTTP API (function keys); and how workers' notices wake runs.</summary>
public sealed class TriggerFunctions(PipelineStorage storage, JobOptions jobs, PromotionOptions promotion, PoolOptions pool, TimeProvider clock, ILogger<TriggerFunctions> log)
{
    /// <summary>A scan dropped under scans/incoming/&lt;project&gt;/ (Event Grid delivers it on Flex Consumption).</summary>
    [Function("ScanDropped")]
    public async Task ScanDropped(
        [BlobTrigger("scans/incoming/{project}/{name}", Source = BlobTriggerSource.EventGrid, Connection = "AzureWebJobsStorage")] BlobClient blob,
        [DurableClient] DurableTaskClient client, CancellationToken cancellation)
    {
        string path = $"{blob.BlobContainerName}/{blob.Name}";
        // The version the event is about may already be replaced; the drop is the version there now (the replacing one has its own event).
        if (await storage.GetAsync(path, cancellation) is not { } dropped)
        {
            log.LogInformation("scan {Blob}: removed before it could be processed", blob.Name);
            return;
        }
        string? id = await new DropZone(client, storage, jobs, clock).StartAsync(dropped, cancellation);
        log.LogInformation("scan {Blob}: {Outcome}", blob.Name, id is null ? "already processed" : $"run {id} started");
    }

    /// <summary>A reviewed label dropped under scans/labels/&lt;project&gt;/: it joins the project's dataset when its scan is in the pool.</summary>
    [Function("LabelDropped")]
    public async Task LabelDropped(
        [BlobTrigger("scans/labels/{project}/{name}", Source = BlobTriggerSource.EventGrid, Connection = "AzureWebJobsStorage")] BlobClient blob,
        [DurableClient] DurableTaskClient client, CancellationToken cancellation)
    {
        if (await storage.GetAsync($"{blob.BlobContainerName}/{blob.Name}", cancellation) is not { } dropped)
        {
            log.LogInformation("label {Blob}: removed before it could be processed", blob.Name);
            return;
        }
        var outcome = await new DropZone(client, storage, jobs, clock).JoinLabelAsync(dropped, cancellation);
        log.LogInformation("label {Blob}: {State} {Detail}", blob.Name, outcome?.State ?? "already processed", outcome?.Detail ?? "");
    }

    /// <summary>A worker's notice that a job's status changed: wakes the run watching the job at once instead of at its next poll.</summary>
    [Function("JobNoticeArrived")]
    public async Task JobNoticeArrived(
        [QueueTrigger("%Jobs:NoticeQueueName%", Connection = "AzureWebJobsStorage")] string body,
        [DurableClient] DurableTaskClient client, CancellationToken cancellation)
    {
        if (JobNotices.TryParse(body) is not { } notice)
        {
            log.LogWarning("job notice not understood, dropped: {Body}", body.Length > 200 ? body[..200] : body);
            return;
        }
        if (!await JobNotices.RelayAsync(client, notice, cancellation))
            log.LogInformation("job {JobId}: notice ({State}) refused for run {Run}; the run sees the change at its next poll", notice.JobId, notice.State, notice.OrchestrationId);
    }

    [Function("ScheduledRetrain")]
    public async Task ScheduledRetrain([TimerTrigger("%Schedule:Retrain%")] TimerInfo timer, [DurableClient] DurableTaskClient client, CancellationToken cancellation)
    {
        var started = await new RetrainPlanner(storage, new TrainingRuns(client, storage, jobs, promotion, pool, clock)).RunAsync(cancellation);
        log.LogInformation("scheduled retraining: {Count} run(s) started {Runs}", started.Count, string.Join(", ", started));
    }

    [Function("StartTraining")]
    public async Task<HttpResponseData> StartTraining(
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = ApiRoutes.StartTraining)] HttpRequestData request, string name,
        [DurableClient] DurableTaskClient client, CancellationToken cancellation) =>
        await Respond(request, await Api(client).StartTrainingAsync(name, request.Body, ContentLength(request), cancellation));

    [Function("GetRun")]
    public async Task<HttpResponseData> GetRun(
        [HttpTrigger(AuthorizationLevel.Function, "get", Route = ApiRoutes.Run)] HttpRequestData request, string id,
        [DurableClient] DurableTaskClient client, CancellationToken cancellation) =>
        await Respond(request, await Api(client).GetRunAsync(id, cancellation));

    [Function("CancelRun")]
    public async Task<HttpResponseData> CancelRun(
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = ApiRoutes.CancelRun)] HttpRequestData request, string id,
        [DurableClient] DurableTaskClient client, CancellationToken cancellation) =>
        await Respond(request, await Api(client).CancelRunAsync(id, cancellation));

    [Function("ListRuns")]
    public async Task<HttpResponseData> ListRuns(
        [HttpTrigger(AuthorizationLevel.Function, "get", Route = ApiRoutes.Runs)] HttpRequestData request,
        [DurableClient] DurableTaskClient client, CancellationToken cancellation)
    {
        var query = System.Web.HttpUtility.ParseQueryString(request.Url.Query);
        if (!TryInt(query["take"], 50, out int take)) return await Respond(request, ApiResult.Error(400, "take: an integer"));
        return await Respond(request, await Api(client).ListRunsAsync(query["kind"], take, query["continuation"], cancellation));
    }

    // The results viewer's routes: the same read-only API as the local host's, behind the same function keys.
    [Function("ListProjects")]
    public async Task<HttpResponseData> ListProjects(
        [HttpTrigger(AuthorizationLevel.Function, "get", Route = ApiRoutes.Projects)] HttpRequestData request, CancellationToken cancellation) =>
        await Respond(request, await Results.ListProjectsAsync(cancellation));

    [Function("ListCases")]
    public async Task<HttpResponseData> ListCases(
        [HttpTrigger(AuthorizationLevel.Function, "get", Route = ApiRoutes.Cases)] HttpRequestData request, string project, CancellationToken cancellation)
    {
        var query = System.Web.HttpUtility.ParseQueryString(request.Url.Query);
        if (!TryInt(query["skip"], 0, out int skip) || !TryInt(query["take"], 100, out int take))
            return await Respond(request, ApiResult.Error(400, "skip, take: integers"));
        return await Respond(request, await Results.ListCasesAsync(project, skip, take, cancellation));
    }

    [Function("GetCase")]
    public async Task<HttpResponseData> GetCase(
        [HttpTrigger(AuthorizationLevel.Function, "get", Route = ApiRoutes.Case)] HttpRequestData request, string project, string caseName,
        CancellationToken cancellation) =>
        await Respond(request, await Results.GetCaseAsync(project, caseName, cancellation));

    [Function("GetCaseFile")]
    public async Task<HttpResponseData> GetCaseFile(
        [HttpTrigger(AuthorizationLevel.Function, "get", Route = ApiRoutes.CaseFile)] HttpRequestData request, string project, string caseName,
        string run, string file, CancellationToken cancellation) =>
        await Respond(request, await Results.OpenCaseFileAsync(project, caseName, run, file, cancellation));

    [Function("ListQuarantined")]
    public async Task<HttpResponseData> ListQuarantined(
        [HttpTrigger(AuthorizationLevel.Function, "get", Route = ApiRoutes.Quarantined)] HttpRequestData request, string project, CancellationToken cancellation) =>
        await Respond(request, await Results.ListQuarantinedAsync(project, cancellation));

    [Function("ListModels")]
    public async Task<HttpResponseData> ListModels(
        [HttpTrigger(AuthorizationLevel.Function, "get", Route = ApiRoutes.Models)] HttpRequestData request, CancellationToken cancellation) =>
        await Respond(request, await Results.ListModelsAsync(cancellation));

    [Function("GetModels")]
    public async Task<HttpResponseData> GetModels(
        [HttpTrigger(AuthorizationLevel.Function, "get", Route = ApiRoutes.DatasetModels)] HttpRequestData request, string dataset,
        CancellationToken cancellation)
    {
        if (!TryInt(System.Web.HttpUtility.ParseQueryString(request.Url.Query)["take"], 20, out int take))
            return await Respond(request, ApiResult.Error(400, "take: an integer"));
        return await Respond(request, await Results.GetModelsAsync(dataset, take, cancellation));
    }

    [Function("GetModelFile")]
    public async Task<HttpResponseData> GetModelFile(
        [HttpTrigger(AuthorizationLevel.Function, "get", Route = ApiRoutes.ModelFile)] HttpRequestData request, string dataset, string version,
        string file, CancellationToken cancellation) =>
        await Respond(request, await Results.OpenModelFileAsync(dataset, version, file, cancellation));

    /// <summary>The viewer's page and scripts at <c>/api/viewer/</c> (open it as <c>/api/viewer/?code=&lt;function key&gt;</c>).</summary>
    [Function("Viewer")]
    public async Task<HttpResponseData> Viewer(
        [HttpTrigger(AuthorizationLevel.Function, "get", Route = ApiRoutes.Viewer)] HttpRequestData request, string? file)
    {
        if (string.IsNullOrEmpty(file) && !request.Url.AbsolutePath.EndsWith('/'))
        {
            // The page loads its files by relative names: they must resolve below /api/viewer/.
            var redirect = request.CreateResponse(HttpStatusCode.MovedPermanently);
            redirect.Headers.Add("Location", request.Url.AbsolutePath + "/" + request.Url.Query);
            return redirect;
        }
        return ViewerAssets.Open(file) is { } asset
            ? await Respond(request, new ApiResult(200, asset), ViewerAssets.ContentSecurityPolicy)
            : await Respond(request, ApiResult.Error(404, "no such file: the viewer is at /api/viewer/"));
    }

    private static bool TryInt(string? text, int fallback, out int value)
    {
        value = fallback;
        return text is null || int.TryParse(text, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out value);
    }

    private ResultsApi Results => new(storage);

    private static long? ContentLength(HttpRequestData request) =>
        request.Headers.TryGetValues("Content-Length", out var values) && long.TryParse(values.FirstOrDefault(), out long length) ? length : null;

    private PipelineApi Api(DurableTaskClient client) => new(client, storage, jobs, promotion, pool, clock);

    /// <summary>
    /// The largest file a route passes through: without ASP.NET Core integration the isolated worker
    /// holds a response in memory and sends it to the host in one message.
    /// </summary>
    public const long MaxFileBytes = 512L * 1024 * 1024;

    private static async Task<HttpResponseData> Respond(HttpRequestData request, ApiResult result, string? contentSecurityPolicy = null)
    {
        if (result.Body is ApiFile file)
        {
            await using var content = file.Content;
            if (file.Length > MaxFileBytes)
                return await Respond(request, ApiResult.Error(413, $"{file.FileName}: {file.Length} bytes, more than the {MaxFileBytes} this app passes through; read it from storage"));
            var streamed = request.CreateResponse((HttpStatusCode)result.StatusCode);
            streamed.Headers.Add("Content-Type", file.ContentType);
            streamed.Headers.Add("X-Content-Type-Options", "nosniff");
            if (contentSecurityPolicy is not null) streamed.Headers.Add("Content-Security-Policy", contentSecurityPolicy);
            await content.CopyToAsync(streamed.Body);
            return streamed;
        }
        var response = request.CreateResponse((HttpStatusCode)result.StatusCode);
        response.Headers.Add("Content-Type", "application/json; charset=utf-8");
        await response.Body.WriteAsync(JsonSerializer.SerializeToUtf8Bytes(result.Body, PipelineStorage.Json));
        return response;
    }
}
