using GuidedNet.Imaging.Nifti;
using GuidedNet.Imaging.Synthetic;
using GuidedNet.Pipeline.Api;
using GuidedNet.Pipeline.Datasets;
using GuidedNet.Pipeline.Jobs;
using GuidedNet.Pipeline.Jobs.Transport;
using GuidedNet.Pipeline.Jobs.Worker;
using GuidedNet.Pipeline.Options;
using GuidedNet.Pipeline.Orchestrations;
using GuidedNet.Pipeline.Scheduling;
using GuidedNet.Pipeline.Storage;
using Microsoft.DurableTask.Client;
using Microsoft.DurableTask.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace GuidedNet.Pipeline.Tests.Infrastructure;

/// <summary>
/// The pipeline in this process, for tests of its logic: real storage (Azurite) and a real storage
/// queue, the orchestrations on the in-memory durable host, and job workers hosted here with
/// <see cref="FakeJobRunner"/>s, all with millisecond intervals. Each instance has its own job
/// queue; tests keep apart on a shared Azurite by their own project and dataset names.
/// </summary>
public sealed class InProcessPipeline : IAsyncDisposable
{
    private readonly List<(CancellationTokenSource Stop, Task Loop)> _workers = new();
    private DurableTaskTestHost? _durable;

    private InProcessPipeline(string connectionString)
    {
        StorageOptions = new StorageOptions { ConnectionString = connectionString };
        Storage = PipelineStorage.Create(StorageOptions);
        Jobs = new JobStore(Storage);
        JobOptions = new JobOptions
        {
            QueueName = "inproc-" + Guid.NewGuid().ToString("N")[..10],
            PollInterval = TimeSpan.FromMilliseconds(100),
            HeartbeatTimeout = TimeSpan.FromSeconds(2),
            VisibilityTimeout = TimeSpan.FromSeconds(10),
            MaxAttempts = 3,
            MaxDeliveryCount = 3,
        };
        Queue = StorageQueueJobQueue.Create(StorageOptions, JobOptions);
        Notices = JobNoticeQueue.Create(StorageOptions, JobOptions)!;
    }

    public StorageOptions StorageOptions { get; }
    public PipelineStorage Storage { get; }
    public JobStore Jobs { get; }
    public JobOptions JobOptions { get; }
    public PromotionOptions Promotion { get; } = new();
    public PoolOptions Pool { get; } = new();
    public IJobQueue Queue { get; }

    /// <summary>This pipeline's own notice queue (named after its job queue), relayed to its durable host while it runs.</summary>
    public JobNoticeQueue Notices { get; }
    public FakeJobRunner Runner { get; } = new();
    public StringWriter WorkerLog { get; } = new();
    public TimeProvider Clock => TimeProvider.System;

    public DurableTaskClient Client => (_durable ?? throw new InvalidOperationException("started without the durable host")).Client;
    public PipelineApi Api => new(Client, Storage, JobOptions, Promotion, Pool, Clock);
    public TrainingRuns TrainingRuns => new(Client, Storage, JobOptions, Promotion, Pool, Clock);
    /// <summary>A drop zone polling only <paramref name="project"/>'s drops: other tests' drops on the shared Azurite are not this pipeline's.</summary>
    public DropZone NewDropZone(string project, int pollPageSize = ScheduleOptions.DefaultDropZonePageSize) => new(Client, Storage, JobOptions, Clock, pollPageSize, project);
    public RetrainPlanner Planner => new(Storage, TrainingRuns);

    public static async Task<InProcessPipeline> StartAsync(Azurite azurite, bool durable = true)
    {
        var pipeline = new InProcessPipeline(azurite.ConnectionString);
        await pipeline.Storage.EnsureContainersAsync();
        if (durable)
            pipeline._durable = await DurableTaskTestHost.StartAsync(r => r.AddPipelineTasks(), new DurableTaskTestHostOptions
            {
                ConfigureServices = services => services
                    .AddSingleton(pipeline.Storage).AddSingleton(pipeline.Pool).AddSingleton(pipeline.Jobs).AddSingleton(pipeline.Queue).AddSingleton(pipeline.Clock),
            });
        if (durable)
        {
            // The local host's relay loop, at a test's pace.
            var stop = new CancellationTokenSource();
            pipeline._workers.Add((stop, Task.Run(() => pipeline.Notices.RelayUntilStoppedAsync(n => JobNotices.RelayAsync(pipeline.Client, n),
                TimeSpan.FromMilliseconds(20), e => pipeline.WorkerLog.WriteLine($"job notices: {e.Message}"), stop.Token))));
        }
        return pipeline;
    }

    /// <summary>A worker host with this pipeline's fake runner (or the given one) for every job kind.</summary>
    public JobWorkerHost NewWorker(string name, IJobRunner? runner = null, TimeSpan? heartbeat = null, bool notify = true)
    {
        runner ??= Runner;
        var options = new WorkerOptions { Name = name, Heartbeat = heartbeat ?? TimeSpan.FromMilliseconds(50), EmptyPoll = TimeSpan.FromMilliseconds(50) };
        return new JobWorkerHost(Jobs, Queue, JobOptions, options, new Dictionary<JobKind, IJobRunner> { [JobKind.Train] = runner, [JobKind.Predict] = runner },
            TextWriter.Synchronized(WorkerLog), notices: notify ? Notices : null);
    }

    /// <summary>Runs a worker's receive loop in the background until the pipeline is disposed (or <paramref name="stop"/> fires).</summary>
    public void StartWorker(string name, CancellationToken stop = default, bool notify = true)
    {
        var cts = CancellationTokenSource.CreateLinkedTokenSource(stop);
        var worker = NewWorker(name, notify: notify);
        _workers.Add((cts, Task.Run(() => worker.RunAsync(cts.Token))));
    }

    /// <summary>Sends a job as the orchestrator would (its first attempt), without an orchestration.</summary>
    public Task<DispatchResult> DispatchAsync(JobMessage message, string? expectedETag = null) =>
        new DispatchJobActivity(Jobs, Queue, Clock).RunAsync(null!, new DispatchJobInput(message, expectedETag));

    public async Task<IJobDelivery> ReceiveAsync(TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (true)
        {
            if (await Queue.ReceiveAsync() is { } delivery) return delivery;
            if (DateTime.UtcNow > deadline) throw new TimeoutException("no job message arrived");
            await Task.Delay(20);
        }
    }

    public async Task<T> WaitForAsync<T>(Func<Task<T?>> probe, string what, TimeSpan? timeout = null) where T : class
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (true)
        {
            if (await probe() is { } value) return value;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{what} did not happen within {timeout ?? TimeSpan.FromSeconds(30)}; worker log:\n{WorkerLog}");
            await Task.Delay(20);
        }
    }

    public async Task<OrchestrationMetadata> WaitForRunAsync(string id, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        try
        {
            return await Client.WaitForInstanceCompletionAsync(id, getInputsAndOutputs: true, cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"run {id} did not end; worker log:\n{WorkerLog}");
        }
    }

    /// <summary>A phantom scan written as NIfTI and uploaded to <paramref name="path"/>; returns what the upload stored.</summary>
    public async Task<BlobPin> UploadScanAsync(string path, int seed, int classes = 3)
    {
        var (image, _) = new PhantomGenerator(new PhantomOptions { Classes = classes, Size = (24, 24, 12) }).Generate(seed);
        string file = Path.Combine(Path.GetTempPath(), $"inproc-{Guid.NewGuid():N}.nii.gz");
        NiftiWriter.Write(file, image, NiftiDataType.Int16);
        try
        {
            return await Storage.UploadFileAsync(path, file);
        }
        finally
        {
            File.Delete(file);
        }
    }

    /// <summary>A small MSD dataset (phantoms) under datasets/&lt;name&gt;/.</summary>
    public async Task UploadDatasetAsync(string dataset, int cases = 3, int labeled = 2, int seed = 5)
    {
        string folder = Path.Combine(Path.GetTempPath(), "inproc-" + Guid.NewGuid().ToString("N")[..8]);
        new PhantomGenerator(new PhantomOptions { Classes = 3, Size = (24, 24, 12) }).WriteDataset(folder, cases, labeled, 0, seed);
        foreach (string file in Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories))
            await Storage.UploadFileAsync($"datasets/{dataset}/{Path.GetRelativePath(folder, file)}", file);
        Directory.Delete(folder, recursive: true);
    }

    public static string UniqueName(string stem) => $"{stem}-{Guid.NewGuid().ToString("N")[..6]}";

    public async ValueTask DisposeAsync()
    {
        foreach (var (stop, _) in _workers) stop.Cancel();
        foreach (var (stop, loop) in _workers)
        {
            await loop.ContinueWith(_ => { });
            stop.Dispose();
        }
        if (_durable is not null) await _durable.DisposeAsync();
        await Queue.DisposeAsync();
    }
}
