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
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = "datasets/{name}/train")] HttpRequestData request, string name,
        [DurableClient] DurableTaskClient client, CancellationToken cancellation) =>
        await Respond(request, await Api(client).StartTrainingAsync(name, request.Body, ContentLength(request), cancellation));

    [Function("GetRun")]
    public async Task<HttpResponseData> GetRun(
        [HttpTrigger(AuthorizationLevel.Function, "get", Route = "runs/{id}")] HttpRequestData request, string id,
        [DurableClient] DurableTaskClient client, CancellationToken cancellation) =>
        await Respond(request, await Api(client).GetRunAsync(id, cancellation));

    [Function("CancelRun")]
    public async Task<HttpResponseData> CancelRun(
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = "runs/{id}/cancel")] HttpRequestData request, string id,
        [DurableClient] DurableTaskClient client, CancellationToken cancellation) =>
        await Respond(request, await Api(client).CancelRunAsync(id, cancellation));

    private static long? ContentLength(HttpRequestData request) =>
        request.Headers.TryGetValues("Content-Length", out var values) && long.TryParse(values.FirstOrDefault(), out long length) ? length : null;

    private PipelineApi Api(DurableTaskClient client) => new(client, storage, jobs, promotion, pool, clock);

    private static async Task<HttpResponseData> Respond(HttpRequestData request, ApiResult result)
    {
        var response = request.CreateResponse((HttpStatusCode)result.StatusCode);
        response.Headers.Add("Content-Type", "application/json; charset=utf-8");
        await response.Body.WriteAsync(JsonSerializer.SerializeToUtf8Bytes(result.Body, PipelineStorage.Json));
        return response;
    }
}
