using System.Net;
using DurableTask.Core;
using GuidedNet.LocalHost;
using GuidedNet.Pipeline.Api;
using GuidedNet.Pipeline.Datasets;
using GuidedNet.Pipeline.Jobs;
using GuidedNet.Pipeline.Jobs.Transport;
using GuidedNet.Pipeline.Options;
using GuidedNet.Pipeline.Orchestrations;
using GuidedNet.Pipeline.Scheduling;
using GuidedNet.Pipeline.Storage;
using GuidedNet.Pipeline.Telemetry;
using Grpc.Net.Client;
using Grpc.Net.Client.Configuration;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.DurableTask.Client;
using Microsoft.DurableTask.Testing.Sidecar.Grpc;
using Microsoft.DurableTask.Worker;

// guidednet-local: the pipeline on a workstation. Same orchestrators, activities and HTTP routes
// as the Functions app; the durable backend is Azure Storage on Azurite behind the durabletask gRPC
// sidecar; the drop zone is polled; a worker process can run beside it.
// A connection string on the command line is readable by every user in the process list.
if (args.FirstOrDefault(a => a.Contains("ConnectionString", StringComparison.OrdinalIgnoreCase)) is { } secret)
{
    Console.Error.WriteLine($"error: {secret.Split('=')[0]} on the command line would show the connection string (and its account key) in the process list: set it in the environment (Storage__ConnectionString)");
    return 2;
}
var builder = WebApplication.CreateBuilder(args);
builder.Logging.AddFilter("DurableTask", LogLevel.Warning).AddFilter("Microsoft.DurableTask", LogLevel.Warning)
    .AddFilter("Microsoft.AspNetCore", LogLevel.Warning).AddFilter("Grpc", LogLevel.Warning);

T Bind<T>(string section) where T : class, IValidatedOptions, new()
{
    var options = builder.Configuration.GetValidated<T>(section);
    builder.Services.AddSingleton(options);
    return options;
}
LocalHostOptions host;
StorageOptions storageOptions;
JobOptions jobOptions;
PromotionOptions promotion;
TelemetryOptions telemetry;
try
{
    host = Bind<LocalHostOptions>(LocalHostOptions.Section);
    storageOptions = Bind<StorageOptions>(StorageOptions.Section);
    jobOptions = Bind<JobOptions>(JobOptions.Section);
    promotion = Bind<PromotionOptions>(PromotionOptions.Section);
    Bind<PoolOptions>(PoolOptions.Section);
    Bind<ScheduleOptions>(ScheduleOptions.Section);
    telemetry = TelemetryOptions.FromConfiguration(builder.Configuration);
}
catch (Exception e) when (e is ArgumentException or InvalidOperationException)
{
    Console.Error.WriteLine($"error: configuration: {e.Message}");
    return 2;
}

builder.WebHost.ConfigureKestrel(kestrel =>
{
    kestrel.Listen(IPAddress.Loopback, host.ApiPort, o => o.Protocols = HttpProtocols.Http1);
    kestrel.Listen(IPAddress.Loopback, host.EffectiveGrpcPort, o => o.Protocols = HttpProtocols.Http2);
});

using var startupLogs = LoggerFactory.Create(b => b.AddConsole().SetMinimumLevel(LogLevel.Warning));
var storage = PipelineStorage.Create(storageOptions);
await storage.EnsureContainersAsync();
var backend = await DurableBackend.CreateAsync(storageOptions, host, startupLogs);

// The durabletask worker keeps a gRPC stream open to the sidecar in this same process; waiting for
// it to drain would hold shutdown for the default 30 s. Work in flight is safe to abandon: the
// backend redelivers it.
builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(5));
builder.Services.AddGrpc();
builder.Services.AddSingleton<IOrchestrationService>(backend);
builder.Services.AddSingleton<IOrchestrationServiceClient>(backend);
builder.Services.AddSingleton<TaskHubGrpcServer>();
// Only requests addressed to this machine, and only this host's own sidecar clients (LoopbackGuard).
var guard = new LoopbackGuard(host.ApiPort, host.EffectiveGrpcPort);
// The worker's first connection can race Kestrel opening the gRPC port; the channel then sits in
// reconnect back-off and fails every call at once ("Connection refused" on the first API request).
// Calls retry Unavailable for a few seconds instead.
var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{host.EffectiveGrpcPort}", new GrpcChannelOptions
{
    HttpHandler = guard.ClientHandler(new SocketsHttpHandler { EnableMultipleHttp2Connections = true }),
    ServiceConfig = new ServiceConfig
    {
        MethodConfigs =
        {
            new MethodConfig
            {
                Names = { MethodName.Default },
                RetryPolicy = new RetryPolicy
                {
                    MaxAttempts = 5, InitialBackoff = TimeSpan.FromSeconds(0.25), MaxBackoff = TimeSpan.FromSeconds(2),
                    BackoffMultiplier = 2, RetryableStatusCodes = { Grpc.Core.StatusCode.Unavailable },
                },
            },
        },
    },
});
builder.Services.AddDurableTaskWorker(b =>
{
    b.UseGrpc(channel);
    b.AddTasks(r => r.AddPipelineTasks());
});
builder.Services.AddDurableTaskClient(b =>
{
    b.UseGrpc(channel);
    b.RegisterDirectly();
});
builder.Services.AddPipelineTelemetry(telemetry, "guidednet-local");
builder.Services.AddSingleton(storage);
builder.Services.AddSingleton<JobStore>();
builder.Services.AddSingleton<IJobQueue>(_ => JobQueue.Create(jobOptions, storageOptions));
builder.Services.AddSingleton(TimeProvider.System);
builder.Services.AddSingleton<PipelineApi>();
builder.Services.AddSingleton<ResultsApi>();
builder.Services.AddSingleton<TrainingRuns>();
builder.Services.AddSingleton(sp => new DropZone(sp.GetRequiredService<DurableTaskClient>(), storage, jobOptions, TimeProvider.System,
    sp.GetRequiredService<ScheduleOptions>().DropZonePageSize));
builder.Services.AddSingleton<RetrainPlanner>();
builder.Services.AddHostedService<DropZonePoller>();
builder.Services.AddHostedService<RetrainTimer>();
if (JobNoticeQueue.Create(storageOptions, jobOptions) is { } notices)
    builder.Services.AddHostedService(sp => new JobNoticeRelay(notices, sp.GetRequiredService<DurableTaskClient>(), sp.GetRequiredService<ILogger<JobNoticeRelay>>()));
if (!string.IsNullOrWhiteSpace(host.WorkerCommand)) builder.Services.AddHostedService<LocalWorkerProcess>();

var app = builder.Build();
app.Use(guard.InvokeAsync);
// Whatever escapes an endpoint still answers with a JSON error naming it, not an empty 500.
app.UseExceptionHandler(handler => handler.Run(async context =>
{
    var error = context.Features.Get<Microsoft.AspNetCore.Diagnostics.IExceptionHandlerFeature>()?.Error;
    bool unavailable = error is Grpc.Core.RpcException { StatusCode: Grpc.Core.StatusCode.Unavailable };
    context.Response.StatusCode = unavailable ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status500InternalServerError;
    await context.Response.WriteAsJsonAsync(new
    {
        error = unavailable ? $"the durable backend is not reachable yet, retry shortly: {error!.Message}" : $"internal error: {error?.Message}",
    });
}));
app.MapGrpcService<TaskHubGrpcServer>().RequireHost($"*:{host.EffectiveGrpcPort}");

static IResult Answer(ApiResult result) => result.Body is ApiFile file
    ? new StreamedFile(file, result.StatusCode)
    : Results.Json(result.Body, PipelineStorage.Json, statusCode: result.StatusCode);
var api = app.MapGroup("/api").RequireHost($"*:{host.ApiPort}");
api.MapPost(ApiRoutes.StartTraining, async (string name, HttpRequest request, PipelineApi pipeline, CancellationToken ct) =>
    Answer(await pipeline.StartTrainingAsync(name, request.Body, request.ContentLength, ct)));
api.MapGet(ApiRoutes.Runs, async (string? kind, int? take, string? continuation, PipelineApi pipeline, CancellationToken ct) =>
    Answer(await pipeline.ListRunsAsync(kind, take ?? 50, continuation, ct)));
api.MapGet(ApiRoutes.Run, async (string id, PipelineApi pipeline, CancellationToken ct) => Answer(await pipeline.GetRunAsync(id, ct)));
api.MapPost(ApiRoutes.CancelRun, async (string id, PipelineApi pipeline, CancellationToken ct) => Answer(await pipeline.CancelRunAsync(id, ct)));
api.MapPost(ApiRoutes.Retrain, async (RetrainPlanner planner, CancellationToken ct) => Results.Json(new { started = await planner.RunAsync(ct) }, statusCode: 202));
api.MapGet(ApiRoutes.Health, () => Results.Json(new { status = "ok", taskHub = host.TaskHub }));
api.MapGet(ApiRoutes.Projects, async (ResultsApi results, CancellationToken ct) => Answer(await results.ListProjectsAsync(ct)));
api.MapGet(ApiRoutes.Cases, async (string project, int? skip, int? take, ResultsApi results, CancellationToken ct) =>
    Answer(await results.ListCasesAsync(project, skip ?? 0, take ?? 100, ct)));
api.MapGet(ApiRoutes.Case, async (string project, string caseName, ResultsApi results, CancellationToken ct) =>
    Answer(await results.GetCaseAsync(project, caseName, ct)));
api.MapGet(ApiRoutes.CaseFile, async (string project, string caseName, string run, string file, ResultsApi results, CancellationToken ct) =>
    Answer(await results.OpenCaseFileAsync(project, caseName, run, file, ct)));
api.MapGet(ApiRoutes.Quarantined, async (string project, ResultsApi results, CancellationToken ct) => Answer(await results.ListQuarantinedAsync(project, ct)));
api.MapGet(ApiRoutes.Models, async (ResultsApi results, CancellationToken ct) => Answer(await results.ListModelsAsync(ct)));
api.MapGet(ApiRoutes.DatasetModels, async (string dataset, int? take, ResultsApi results, CancellationToken ct) =>
    Answer(await results.GetModelsAsync(dataset, take ?? 20, ct)));
api.MapGet(ApiRoutes.ModelFile, async (string dataset, string version, string file, ResultsApi results, CancellationToken ct) =>
    Answer(await results.OpenModelFileAsync(dataset, version, file, ct)));
// The results viewer: the page at / and its files beside it.
app.MapGet("/{file?}", (string? file) => ViewerAssets.Open(file) is { } asset
        ? new StreamedFile(asset, 200, ViewerAssets.ContentSecurityPolicy)
        : Results.Json(new { error = $"no such page: the viewer is at /, the API at /api/" }, statusCode: 404))
    .RequireHost($"*:{host.ApiPort}");

app.Lifetime.ApplicationStarted.Register(() =>
    app.Logger.LogInformation("guidednet-local: API http://127.0.0.1:{Api}/api, task hub {Hub}, queue {Queue}", host.ApiPort, host.TaskHub, jobOptions.QueueName));
await app.RunAsync();
// Release the partition lease now, so a restarted host takes over at once.
await backend.StopAsync(isForced: true).WaitAsync(TimeSpan.FromSeconds(10)).ContinueWith(_ => { });
return 0;
