using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Nodes;
using GuidedNet.Pipeline.Contracts;
using GuidedNet.Pipeline.Datasets;
using GuidedNet.Pipeline.Jobs;
using GuidedNet.Pipeline.Options;
using GuidedNet.Pipeline.Orchestrations;
using GuidedNet.Pipeline.Storage;
using GuidedNet.Training;
using Microsoft.DurableTask.Client;

namespace GuidedNet.Pipeline.Api;

/// <summary>An HTTP answer independent of the host: status code and a JSON body.</summary>
public sealed record ApiResult(int StatusCode, object Body)
{
    public static ApiResult Error(int status, string message) => new(status, new { error = message });
}

/// <summary>
/// The HTTP routes of both hosts (Functions and the local host call these):
/// <c>POST /api/datasets/{name}/train</c>, <c>GET /api/runs/{id}</c>, <c>POST /api/runs/{id}/cancel</c>.
/// </summary>
public sealed class PipelineApi(DurableTaskClient client, PipelineStorage storage, JobOptions jobs, PromotionOptions promotion, PoolOptions pool, TimeProvider? clock = null)
{
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;
    private readonly JobStore _jobs = new(storage);

    /// <summary>The largest request body any route reads; larger ones get 413 before they are read.</summary>
    public const int MaxRequestBytes = 64 * 1024;

    /// <summary>Training requests name only known fields: a misspelt one would otherwise be dropped silently.</summary>
    private static readonly JsonSerializerOptions RequestJson = new(PipelineStorage.Json) { UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow };

    /// <summary>
    /// <see cref="StartTrainingAsync(string, string?, CancellationToken)"/> on a body read from the
    /// wire: at most <see cref="MaxRequestBytes"/> are read (413 beyond, whatever Content-Length says).
    /// </summary>
    public async Task<ApiResult> StartTrainingAsync(string dataset, Stream body, long? contentLength, CancellationToken cancellation = default)
    {
        if (await ReadBoundedAsync(body, contentLength, cancellation) is not { } text)
            return ApiResult.Error(413, $"request body: larger than {MaxRequestBytes} bytes");
        return await StartTrainingAsync(dataset, text, cancellation);
    }

    /// <summary>202 with the new run's id; 409 naming the run when the dataset already has an active training run.</summary>
    public async Task<ApiResult> StartTrainingAsync(string dataset, string? body, CancellationToken cancellation = default)
    {
        if (!BlobLayout.IsValidName(dataset)) return ApiResult.Error(400, $"dataset name: {BlobLayout.NameRule}");
        if (body is not null && Encoding.UTF8.GetByteCount(body) > MaxRequestBytes)
            return ApiResult.Error(413, $"request body: larger than {MaxRequestBytes} bytes");
        TrainRequest request;
        try
        {
            request = string.IsNullOrWhiteSpace(body) ? new TrainRequest() : JsonSerializer.Deserialize<TrainRequest>(body, RequestJson) ?? new TrainRequest();
            request.Validate();
        }
        catch (JsonException e)
        {
            // Neither the message nor the path may carry the value back: a path names a member, which may be any string.
            string at = e.Path is { Length: > 0 and <= 64 } path ? path : "$";
            return ApiResult.Error(400, $"request body: not a training request at {at} (line {e.LineNumber + 1}, byte {e.BytePositionInLine}): " +
                                        "unknown field, wrong JSON type or malformed JSON");
        }
        catch (TrainingSettingException e)
        {
            return new ApiResult(400, new { error = $"request body: {e.Message}", field = e.Field });
        }
        if (!await storage.ExistsAsync(BlobLayout.DatasetJson(dataset), cancellation))
            return ApiResult.Error(404, $"{BlobLayout.DatasetJson(dataset)} not found: upload the dataset (MSD / nnU-Net layout) first");
        var start = await new TrainingRuns(client, storage, jobs, promotion, pool, _clock).StartAsync(dataset, request, cancellation);
        if (start.Active is { } active)
            return new ApiResult(409, new
            {
                error = $"dataset '{dataset}' already has an active training run, {active}: wait for it to end or cancel it (POST /api/runs/{active}/cancel)",
                activeRun = active,
                statusUri = $"/api/runs/{active}",
            });
        return new ApiResult(202, new { id = start.Started, dataset, statusUri = $"/api/runs/{start.Started}" });
    }

    /// <summary>The body as text, or null when it holds more than <see cref="MaxRequestBytes"/> (only that much plus one byte is read).</summary>
    private static async Task<string?> ReadBoundedAsync(Stream body, long? contentLength, CancellationToken cancellation)
    {
        if (contentLength > MaxRequestBytes) return null;
        var buffer = new byte[MaxRequestBytes + 1];
        int filled = 0, read;
        while (filled < buffer.Length && (read = await body.ReadAsync(buffer.AsMemory(filled), cancellation)) > 0) filled += read;
        return filled > MaxRequestBytes ? null : Encoding.UTF8.GetString(buffer, 0, filled);
    }

    /// <summary>
    /// One page (at most <see cref="ResultsApi.MaxPage"/>) of runs, newest first within the page the
    /// backend returns; <paramref name="kind"/> <c>train</c> or <c>scan</c> keeps one kind, and
    /// <paramref name="continuation"/> (the previous page's <c>next</c>) goes on from where it left off.
    /// </summary>
    public async Task<ApiResult> ListRunsAsync(string? kind, int take = 50, string? continuation = null, CancellationToken cancellation = default)
    {
        if (take is < 1 or > ResultsApi.MaxPage) return ApiResult.Error(400, $"take: 1 to {ResultsApi.MaxPage}");
        string? prefix = kind switch
        {
            null or "" => null,
            "train" => RunIds.KindPrefix(JobKind.Train),
            "scan" => RunIds.KindPrefix(JobKind.Predict),
            _ => "",
        };
        if (prefix == "") return ApiResult.Error(400, "kind: train or scan");
        if (continuation is { Length: > 4096 }) return ApiResult.Error(400, "continuation: not one this API gave");
        var query = new OrchestrationQuery { InstanceIdPrefix = prefix, PageSize = take, FetchInputsAndOutputs = false };
        await foreach (var page in client.GetAllInstancesAsync(query).AsPages(continuation, take).WithCancellation(cancellation))
        {
            var runs = page.Values.OrderByDescending(r => r.CreatedAt).Select(r => new
            {
                id = r.InstanceId,
                state = r.RuntimeStatus.ToString(),
                createdUtc = r.CreatedAt.UtcDateTime,
                lastUpdatedUtc = r.LastUpdatedAt.UtcDateTime,
                phase = Read<RunProgress>(r.SerializedCustomStatus)?.Phase,
                statusUri = $"/api/runs/{r.InstanceId}",
            }).ToList();
            return new ApiResult(200, new { runs, next = page.ContinuationToken });
        }
        return new ApiResult(200, new { runs = Array.Empty<object>(), next = (string?)null });
    }

    public async Task<ApiResult> GetRunAsync(string id, CancellationToken cancellation = default)
    {
        var run = await client.GetInstanceAsync(id, getInputsAndOutputs: true, cancellation);
        if (run is null) return ApiResult.Error(404, "no run with this id");
        var progress = Read<RunProgress>(run.SerializedCustomStatus);
        JobStatus? job = JobOf(id) is { } jobId ? (await _jobs.ReadAsync(jobId, cancellation))?.Value : null;
        return new ApiResult(200, new
        {
            id = run.InstanceId,
            name = run.Name,
            state = run.RuntimeStatus.ToString(),
            createdUtc = run.CreatedAt.UtcDateTime,
            lastUpdatedUtc = run.LastUpdatedAt.UtcDateTime,
            elapsedSeconds = (run.LastUpdatedAt - run.CreatedAt).TotalSeconds,
            progress = new
            {
                phase = progress?.Phase,
                casesDone = progress?.CasesDone,
                casesTotal = progress?.CasesTotal,
                quarantined = progress?.Quarantined,
                job = job is null ? null : new
                {
                    job.JobId, job.State, job.Phase, job.Attempt, job.Iteration, job.TotalIterations, job.Losses,
                    job.ValidationDice, job.ResumedFromIteration, job.HeartbeatUtc, job.Timings,
                },
            },
            output = ReadElement(run.SerializedOutput),
            error = run.FailureDetails?.ErrorMessage ?? job?.Error,
        });
    }

    /// <summary>
    /// Stops the run (and its monitor) and asks for its job to be cancelled. The cancel request is
    /// written first and always (the job id follows from the run id), so a job dispatched a moment
    /// before the run stops — or never taken by a worker yet — is cancelled, not left running.
    /// </summary>
    public async Task<ApiResult> CancelRunAsync(string id, CancellationToken cancellation = default)
    {
        var run = await client.GetInstanceAsync(id, getInputsAndOutputs: false, cancellation);
        if (run is null) return ApiResult.Error(404, "no run with this id");
        if (run.IsCompleted) return ApiResult.Error(409, $"run '{id}' already ended ({run.RuntimeStatus})");
        string? jobId = JobOf(id);
        if (jobId is not null) await _jobs.RequestCancelAsync(jobId, id, _clock.GetUtcNow().UtcDateTime, cancellation);
        await client.TerminateInstanceAsync(id, new TerminateInstanceOptions { Output = "cancelled by request", Recursive = true }, cancellation);
        return new ApiResult(202, new { id, state = "Terminating", job = jobId });
    }

    private static string? JobOf(string runId) => RunIds.JobKindOf(runId) is { } kind ? JobIds.For(runId, kind) : null;

    // The durable data converter writes PascalCase; read it either way.
    private static readonly JsonSerializerOptions DurableJson = new(PipelineStorage.Json) { PropertyNameCaseInsensitive = true };

    private static T? Read<T>(string? json) where T : class
    {
        if (string.IsNullOrEmpty(json)) return null;
        try
        {
            return JsonSerializer.Deserialize<T>(json, DurableJson);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>An orchestration output as the API shows it: camelCase like the rest of the body.</summary>
    private static JsonNode? ReadElement(string? json)
    {
        if (string.IsNullOrEmpty(json)) return null;
        try
        {
            return CamelCase(JsonNode.Parse(json));
        }
        catch (JsonException)
        {
            return JsonValue.Create(json); // a plain string (e.g. a failure or termination reason)
        }
    }

    private static JsonNode? CamelCase(JsonNode? node) => node switch
    {
        JsonObject o => new JsonObject(o.Select(kv => KeyValuePair.Create(JsonNamingPolicy.CamelCase.ConvertName(kv.Key), CamelCase(kv.Value?.DeepClone())))),
        JsonArray a => new JsonArray(a.Select(v => CamelCase(v?.DeepClone())).ToArray()),
        _ => node?.DeepClone(),
    };
}
