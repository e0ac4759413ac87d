using System.Text.Json;
using Azure.Storage.Blobs;
using GuidedNet.Imaging.Synthetic;
using GuidedNet.Pipeline.Activities;
using GuidedNet.Pipeline.Contracts;
using GuidedNet.Pipeline.Jobs;
using GuidedNet.Pipeline.Jobs.Transport;
using GuidedNet.Pipeline.Jobs.Worker;
using GuidedNet.Pipeline.Options;
using GuidedNet.Pipeline.Orchestrations;
using GuidedNet.Pipeline.Storage;
using GuidedNet.Pipeline.Tests.Infrastructure;
using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;
using Microsoft.DurableTask.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace GuidedNet.Functions.Tests;

/// <summary>
/// Calls every Functions shim — orchestrators and activities through the in-memory durable test
/// host, triggers directly — against Azurite storage, with a worker host and a fake runner in this
/// process standing in for the GPU worker.
/// </summary>
public sealed class FunctionShimTests : IAsyncLifetime
{
    private readonly Azurite _azurite = new();
    private readonly string _queue = "shim-" + Guid.NewGuid().ToString("N")[..8];
    private ServiceProvider _services = null!;
    private DurableTaskTestHost _host = null!;
    private PipelineStorage _storage = null!;
    private TriggerFunctions _triggers = null!;
    private readonly CancellationTokenSource _stop = new();
    private Task _worker = Task.CompletedTask;

    public async Task InitializeAsync()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Storage:ConnectionString"] = _azurite.ConnectionString,
            ["Jobs:QueueName"] = _queue,
            ["Jobs:PollInterval"] = "00:00:00.200",
            ["Jobs:HeartbeatTimeout"] = "00:00:30",
            ["Promotion:Margin"] = "0.0",
            ["Schedule:Retrain"] = "0 0 2 * * *",
        }).Build();
        var services = new ServiceCollection();
        services.AddLogging();
        FunctionsApp.AddPipeline(services, configuration);
        _services = services.BuildServiceProvider();
        _storage = _services.GetRequiredService<PipelineStorage>();
        await _storage.EnsureContainersAsync();
        _triggers = new TriggerFunctions(_storage, _services.GetRequiredService<JobOptions>(), _services.GetRequiredService<PromotionOptions>(), _services.GetRequiredService<PoolOptions>(),
            TimeProvider.System, NullLogger<TriggerFunctions>.Instance);

        var activities = new ActivityFunctions(_services);
        _host = await DurableTaskTestHost.StartAsync(r =>
        {
            r.AddOrchestratorFunc<TrainDatasetInput, TrainRunResult>(TaskNames.TrainDataset, (context, _) => OrchestratorFunctions.TrainDataset(context));
            r.AddOrchestratorFunc<SegmentScanInput, ScanRunResult>(TaskNames.SegmentScan, (context, _) => OrchestratorFunctions.SegmentScan(context));
            Activity<string, DatasetListing>(r, TaskNames.ListDatasetCases, activities.ListDatasetCases);
            Activity<ValidateCasesInput, CaseCheck[]>(r, TaskNames.ValidateCases, activities.ValidateCases);
            Activity<DatasetManifest, string>(r, TaskNames.WriteManifest, activities.WriteManifest);
            Activity<DispatchJobInput, DispatchResult>(r, TaskNames.DispatchJob, activities.DispatchJob);
            Activity<string, JobStatusSnapshot>(r, TaskNames.ReadJobStatus, activities.ReadJobStatus);
            Activity<FailJobInput, JobStatusSnapshot>(r, TaskNames.FailJob, activities.FailJob);
            Activity<string, string[]>(r, TaskNames.CommitJobOutputs, activities.CommitJobOutputs);
            Activity<RegisterModelInput, ModelRegistration>(r, TaskNames.RegisterModel, activities.RegisterModel);
            Activity<ScanDrop, ScanCheck>(r, TaskNames.ValidateScan, activities.ValidateScan);
            Activity<string, ProductionModel?>(r, TaskNames.FindProductionModel, activities.FindProductionModel);
            Activity<PublishScanInput, PublishedScan>(r, TaskNames.PublishScanResult, activities.PublishScanResult);
        });
        _worker = Task.Run(() => StandInWorkerAsync(_stop.Token));
    }

    private void Activity<TIn, TOut>(DurableTaskRegistry registry, string name, Func<TIn, FunctionContext, Task<TOut>> shim) =>
        registry.AddActivityFunc<TIn, TOut>(name, (_, input) => shim(input, new ShimFunctionContext(_services)));

    /// <summary>The job protocol's worker host with a fake runner: claims, heartbeats, stages outputs and finishes each job.</summary>
    private async Task StandInWorkerAsync(CancellationToken stop)
    {
        var runner = new FakeJobRunner();
        var options = new GuidedNet.Pipeline.Jobs.Worker.WorkerOptions { Name = "stand-in", Heartbeat = TimeSpan.FromMilliseconds(100), EmptyPoll = TimeSpan.FromMilliseconds(100) };
        var host = new JobWorkerHost(_services.GetRequiredService<JobStore>(), _services.GetRequiredService<IJobQueue>(), _services.GetRequiredService<JobOptions>(),
            options, new Dictionary<JobKind, IJobRunner> { [JobKind.Train] = runner, [JobKind.Predict] = runner }, TextWriter.Null);
        await host.RunAsync(stop);
    }

    private async Task UploadDatasetAsync(string dataset)
    {
        string folder = Path.Combine(Path.GetTempPath(), "guidednet-shim-" + Guid.NewGuid().ToString("N")[..8]);
        new PhantomGenerator(new PhantomOptions { Classes = 3, Size = (24, 24, 12) }).WriteDataset(folder, 3, 2, 0, 5);
        foreach (string file in Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories))
            await _storage.UploadFileAsync($"datasets/{dataset}/{Path.GetRelativePath(folder, file)}", file);
        Directory.Delete(folder, recursive: true);
    }

    private async Task<(int Status, JsonElement Body)> CallAsync(Func<Microsoft.Azure.Functions.Worker.Http.HttpRequestData, Task<Microsoft.Azure.Functions.Worker.Http.HttpResponseData>> shim,
        string method, string body = "", string url = "http://localhost/api/x")
    {
        var request = new ShimHttpRequest(new ShimFunctionContext(_services), method, url, body);
        var response = (ShimHttpResponse)await shim(request);
        return ((int)response.StatusCode, JsonDocument.Parse(response.Text).RootElement.Clone());
    }

    private async Task<(int Status, byte[] Bytes, Microsoft.Azure.Functions.Worker.Http.HttpHeadersCollection Headers)> CallRawAsync(
        Func<Microsoft.Azure.Functions.Worker.Http.HttpRequestData, Task<Microsoft.Azure.Functions.Worker.Http.HttpResponseData>> shim, string url = "http://localhost/api/x")
    {
        var response = (ShimHttpResponse)await shim(new ShimHttpRequest(new ShimFunctionContext(_services), "GET", url, ""));
        return ((int)response.StatusCode, ((MemoryStream)response.Body).ToArray(), response.Headers);
    }

    private async Task<OrchestrationMetadata> CompletedAsync(string id)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        return await _host.Client.WaitForInstanceCompletionAsync(id, getInputsAndOutputs: true, timeout.Token);
    }

    [Fact]
    public async Task Training_scans_schedule_and_the_HTTP_API_run_through_the_function_shims()
    {
        var client = _host.Client;
        await UploadDatasetAsync("kidney");

        // HTTP: bad requests are refused with the reason; a good one starts a run.
        var (status, body) = await CallAsync(r => _triggers.StartTraining(r, "kidney", client, default), "POST", "{\"preset\": \"brain\"}");
        Assert.Equal(400, status);
        Assert.Contains("preset", body.GetProperty("error").GetString());
        (status, body) = await CallAsync(r => _triggers.StartTraining(r, "nowhere", client, default), "POST", "{}");
        Assert.Equal(404, status);
        (status, body) = await CallAsync(r => _triggers.StartTraining(r, "kidney", client, default), "POST", "{\"iterations\": 5}");
        Assert.Equal(202, status);
        string trainId = body.GetProperty("id").GetString()!;

        var train = await CompletedAsync(trainId);
        Assert.Equal(OrchestrationRuntimeStatus.Completed, train.RuntimeStatus);
        var result = train.ReadOutputAs<TrainRunResult>()!;
        Assert.True(result.Promoted);
        Assert.Equal(3, result.Cases);
        Assert.Equal(0.75, result.ValidationMeanDice);
        (status, body) = await CallAsync(r => _triggers.GetRun(r, trainId, client, default), "GET");
        Assert.Equal(200, status);
        Assert.Equal("Completed", body.GetProperty("state").GetString());
        Assert.Equal("done", body.GetProperty("progress").GetProperty("phase").GetString());
        (status, _) = await CallAsync(r => _triggers.GetRun(r, "no-such-run", client, default), "GET");
        Assert.Equal(404, status);

        // Blob trigger: a dropped scan is segmented (by the stand-in worker) and summarised.
        var (image, _) = new PhantomGenerator(new PhantomOptions { Classes = 3, Size = (24, 24, 12) }).Generate(9);
        string local = Path.Combine(Path.GetTempPath(), $"shim-scan-{Guid.NewGuid():N}.nii.gz");
        Imaging.Nifti.NiftiWriter.Write(local, image, Imaging.Nifti.NiftiDataType.Int16);
        await _storage.UploadFileAsync(BlobLayout.IncomingScan("kidney", "new-case.nii.gz"), local);
        byte[] dropped = await File.ReadAllBytesAsync(local);
        File.Delete(local);
        var blob = new BlobClient(_azurite.ConnectionString, "scans", "incoming/kidney/new-case.nii.gz");
        await _triggers.ScanDropped(blob, client, default);
        await _triggers.ScanDropped(blob, client, default); // delivered twice: still one run
        var scans = new List<OrchestrationMetadata>();
        await foreach (var m in client.GetAllInstancesAsync(new OrchestrationQuery { InstanceIdPrefix = RunIds.ScanPrefix("kidney", "new-case") })) scans.Add(m);
        var scan = await CompletedAsync(Assert.Single(scans).InstanceId);
        Assert.Equal(OrchestrationRuntimeStatus.Completed, scan.RuntimeStatus);
        Assert.Equal("segmented", scan.ReadOutputAs<ScanRunResult>()!.State);
        Assert.True(await _storage.ExistsAsync(BlobLayout.Summary("kidney")));
        Assert.True(await _storage.ExistsAsync(BlobLayout.TrainingImage("kidney", "new-case")));

        // The viewer's routes: the project, the case, its scan exactly as dropped, the runs, the page (below /api/viewer/).
        (status, body) = await CallAsync(r => _triggers.ListProjects(r, default), "GET");
        Assert.Contains("kidney", body.GetProperty("projects").EnumerateArray().Select(p => p.GetString()));
        (status, body) = await CallAsync(r => _triggers.GetCase(r, "kidney", "new-case", default), "GET");
        Assert.Equal(200, status);
        string run = body.GetProperty("run").GetString()!;
        var file = await CallRawAsync(r => _triggers.GetCaseFile(r, "kidney", "new-case", run, "scan", default));
        Assert.Equal(System.Security.Cryptography.MD5.HashData(dropped), System.Security.Cryptography.MD5.HashData(file.Bytes));
        (status, _) = await CallAsync(r => _triggers.GetCaseFile(r, "kidney", "..", run, "scan", default), "GET");
        Assert.Equal(400, status);
        (status, body) = await CallAsync(r => _triggers.ListRuns(r, client, default), "GET", url: "http://localhost/api/runs?kind=train&take=10");
        Assert.Contains(trainId, body.GetProperty("runs").EnumerateArray().Select(r => r.GetProperty("id").GetString()));
        (status, _) = await CallAsync(r => _triggers.ListRuns(r, client, default), "GET", url: "http://localhost/api/runs?take=many");
        Assert.Equal(400, status);
        var page = await CallRawAsync(r => _triggers.Viewer(r, null), url: "http://localhost/api/viewer?code=k");
        Assert.Equal((301, "/api/viewer/?code=k"), (page.Status, page.Headers.GetValues("Location").Single()));
        var script = await CallRawAsync(r => _triggers.Viewer(r, "viewer.js"), url: "http://localhost/api/viewer/viewer.js");
        Assert.Equal(200, script.Status);
        Assert.Contains("text/javascript", script.Headers.GetValues("Content-Type").Single());
        Assert.Contains("default-src 'self'", script.Headers.GetValues("Content-Security-Policy").Single());
        Assert.Equal(404, (await CallRawAsync(r => _triggers.Viewer(r, "web.config"), url: "http://localhost/api/viewer/web.config")).Status);

        // Blob trigger: its reviewed label, dropped, joins the dataset's labelsTr.
        var (_, reviewed) = new PhantomGenerator(new PhantomOptions { Classes = 3, Size = (24, 24, 12) }).Generate(9);
        string labelFile = Path.Combine(Path.GetTempPath(), $"shim-label-{Guid.NewGuid():N}.nii.gz");
        Imaging.Nifti.NiftiWriter.Write(labelFile, reviewed, Imaging.Nifti.NiftiDataType.UInt8);
        await _storage.UploadFileAsync(BlobLayout.ScanLabel("kidney", "new-case"), labelFile);
        File.Delete(labelFile);
        await _triggers.LabelDropped(new BlobClient(_azurite.ConnectionString, "scans", "labels/kidney/new-case.nii.gz"), client, default);
        Assert.True(await _storage.ExistsAsync(BlobLayout.TrainingLabel("kidney", "new-case")));
        Assert.True(await _storage.ExistsAsync(BlobLayout.LabelProvenance("kidney", "new-case")));

        // Timer: the new case makes the dataset stale, so one retraining run starts; it can be cancelled once.
        await _triggers.ScheduledRetrain(new TimerInfo(), client, default);
        var runs = new List<OrchestrationMetadata>();
        await foreach (var m in client.GetAllInstancesAsync(new OrchestrationQuery { InstanceIdPrefix = RunIds.TrainingPrefix("kidney") })) runs.Add(m);
        Assert.Equal(2, runs.Count);
        string retrainId = runs.Single(r => r.InstanceId != trainId).InstanceId;
        (status, _) = await CallAsync(r => _triggers.CancelRun(r, retrainId, client, default), "POST");
        Assert.True(status is 202 or 409, $"cancel: {status}"); // 409 only if the stand-in worker already finished it
        (status, _) = await CallAsync(r => _triggers.CancelRun(r, trainId, client, default), "POST");
        Assert.Equal(409, status);
    }

    [Fact]
    public void Start_up_refuses_missing_or_invalid_settings_by_name()
    {
        var services = new ServiceCollection();
        var none = new ConfigurationBuilder().Build();
        var e = Assert.Throws<ArgumentException>(() => FunctionsApp.AddPipeline(services, none));
        Assert.Contains("Storage", e.Message);
        var badCron = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Storage:AccountName"] = "guidednetstore",
            ["Schedule:Retrain"] = "every night",
        }).Build();
        e = Assert.Throws<ArgumentException>(() => FunctionsApp.AddPipeline(services, badCron));
        Assert.Contains("Schedule:Retrain", e.Message);
    }

    public async Task DisposeAsync()
    {
        _stop.Cancel();
        await _worker.ContinueWith(_ => { });
        await _host.DisposeAsync();
        await _services.DisposeAsync();
        _azurite.Dispose();
    }
}
