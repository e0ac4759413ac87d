using GuidedNet.Inference;
using GuidedNet.GpuJob.Cli;
using GuidedNet.GpuJob.Worker;
using GuidedNet.Pipeline.Jobs;
using GuidedNet.Pipeline.Jobs.Transport;
using GuidedNet.Pipeline.Jobs.Worker;
using GuidedNet.Pipeline.Options;
using GuidedNet.Pipeline.Storage;
using GuidedNet.Pipeline.Telemetry;
using GuidedNet.Runtime;
using Microsoft.Extensions.Configuration;

namespace GuidedNet.GpuJob.Commands;

/// <summary><c>guidednet worker</c>: the GPU job container's entry point.</summary>
public static class WorkerCommand
{
    private static readonly JobOptions Jobs = new();
    private static readonly WorkerOptions Worker = new();

    // The worker's settings come from its configuration (the container's environment); an option
    // overrides one of them, so none has a default of its own: each states the configuration's.
    public static readonly CommandSpec Spec = new("""
        guidednet worker [options]
          Takes job messages (training, prediction) from the job queue and runs them against blob storage.
          Configuration comes from environment variables (Storage__ConnectionString or Storage__AccountName,
          Jobs__Transport = StorageQueue | ServiceBus, Jobs__QueueName, Jobs__ServiceBusNamespace,
          Jobs__MaxDeliveryCount, Jobs__VisibilityTimeout, Jobs__Notices (default true: a notice on the
          storage queue Jobs__NoticeQueueName, default <queue>-notices, at each status change), Worker__WorkFolder,
          Worker__DiskBudgetBytes (default 50 GB: job folders and cached models beyond it are evicted least
          recently used first), Worker__Ensemble, Worker__Fast (fast for predict --fast: the parts each
          model's calibration chose; or parts such as bf16,body; unset: exact masks), Worker__Device, Telemetry__Exporters = console | otlp | azuremonitor
          (default: azuremonitor where APPLICATIONINSIGHTS_CONNECTION_STRING is set), Telemetry__OtlpEndpoint, ...);
          these options override them:
        """, CommandSpec.With(TransferCommands.StorageOptions,
    [
        new("transport", "T", "storagequeue | servicebus", DefaultText: Jobs.Transport.ToString().ToLowerInvariant()),
        new("queue", "NAME", "job queue", DefaultText: Jobs.QueueName),
        new("max-deliveries", "N", "deliveries before a failing message is poisoned", DefaultText: FormattableString.Invariant($"{Jobs.MaxDeliveryCount}")),
        new("visibility", "SECONDS", "message lease, renewed while a job runs", DefaultText: FormattableString.Invariant($"{Jobs.VisibilityTimeout.TotalSeconds}")),
        new("work", "DIR", "local scratch folder", DefaultText: "guidednet-worker in the temporary folder"),
        new("device", "D", "auto | cpu | cuda (or cuda:N)", DefaultText: Worker.Device),
        new("threads", "N", "CPU threads; 0 is one per core", DefaultText: FormattableString.Invariant($"{Worker.Threads}")),
        new(ComputeArguments.NoOneDnn, null, "CPU convolutions without oneDNN (Worker__UseOneDnn=false; see guidednet train --help)"),
        new("heartbeat", "SECONDS", "status.json interval, at most 10", DefaultText: FormattableString.Invariant($"{Worker.Heartbeat.TotalSeconds}")),
        new("idle-exit", "SECONDS", "exit after this long without messages", DefaultText: "never"),
        new("name", "NAME", "worker name shown in status.json", DefaultText: "<machine>-<process id>"),
    ]), "Stops cleanly on SIGTERM / Ctrl+C: a training job checkpoints and its message is released.");

    public static int Run(CommandLineArguments args, TextWriter output, CancellationToken stop)
    {
        var overrides = new Dictionary<string, string?>();
        void Map(string option, string key)
        {
            if (args.String(option) is { } value) overrides[key] = value;
        }
        if (StorageConnection.Resolve(args) is { } connection) overrides["Storage:ConnectionString"] = connection;
        Map("transport", "Jobs:Transport");
        Map("queue", "Jobs:QueueName");
        Map("max-deliveries", "Jobs:MaxDeliveryCount");
        Map("work", "Worker:WorkFolder");
        Map("device", "Worker:Device");
        Map("threads", "Worker:Threads");
        if (args.Flag(ComputeArguments.NoOneDnn)) overrides["Worker:UseOneDnn"] = "false";
        Map("name", "Worker:Name");
        void Seconds(string option, string key)
        {
            if (args.Has(option)) overrides[key] = TimeSpan.FromSeconds(args.Double(option, 0)).ToString();
        }
        Seconds("visibility", "Jobs:VisibilityTimeout");
        Seconds("heartbeat", "Worker:Heartbeat");
        Seconds("idle-exit", "Worker:IdleExit");
        args.EnsureAllUsed();

        var configuration = new ConfigurationBuilder().AddEnvironmentVariables().AddInMemoryCollection(overrides).Build();
        StorageOptions storageOptions;
        JobOptions jobOptions;
        WorkerOptions workerOptions;
        TelemetryOptions telemetry;
        try
        {
            storageOptions = configuration.GetValidated<StorageOptions>(StorageOptions.Section);
            jobOptions = configuration.GetValidated<JobOptions>(JobOptions.Section);
            workerOptions = configuration.GetValidated<WorkerOptions>(WorkerOptions.Section);
            telemetry = TelemetryOptions.FromConfiguration(configuration);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            throw new UsageException($"configuration: {e.Message}");
        }

        FastMode fast;
        try
        {
            fast = workerOptions.Fast is { } parts ? FastMode.Parse(parts) : FastMode.Exact;
        }
        catch (ArgumentException e)
        {
            throw new UsageException($"configuration: {WorkerOptions.Section}:Fast: {e.Message}");
        }
        // The job and stage spans of each run's trace, job durations, queue waits, this process's memory, and its console as logs.
        using var exporters = TelemetryExporters.StartStandalone(telemetry, "guidednet-worker", output);
        output = exporters.Console;
        PipelineTelemetry.ObserveProcessMemory();
        var device = TorchRuntime.Configure(new ComputeOptions { Device = workerOptions.Device, Threads = workerOptions.Threads, UseOneDnn = workerOptions.UseOneDnn });
        var storage = PipelineStorage.Create(storageOptions);
        output.WriteLine($"worker {workerOptions.Name}: {jobOptions.Transport} queue '{jobOptions.QueueName}', device {TorchRuntime.Describe(device)}, work folder {workerOptions.WorkFolder}");
        // Jobs run on thread-pool threads; their model and training steps run here, on the main thread (ComputeThread says why).
        var compute = new ComputeThread();
        return compute.Pump(RunAsync(storage, jobOptions, storageOptions, workerOptions, fast, device, compute, output, stop));
    }

    private static async Task<int> RunAsync(PipelineStorage storage, JobOptions jobs, StorageOptions storageOptions, WorkerOptions options, FastMode fast,
        TorchSharp.torch.Device device, ComputeThread compute, TextWriter output, CancellationToken stop)
    {
        try
        {
            await storage.EnsureContainersAsync(stop);
        }
        catch (Azure.RequestFailedException e) when (e.Status == 403)
        {
            // In Azure the worker's roles are scoped to the containers it uses, which the deployment creates.
            output.WriteLine($"worker {options.Name}: may not create containers ({e.ErrorCode}); using those the deployment created");
        }
        var work = new WorkFolder(options.WorkFolder, options.DiskBudgetBytes);
        var swept = work.SweepPartialFiles();
        var evicted = work.EnforceBudget();
        output.WriteLine($"worker {options.Name}: work folder {work.Root}: {work.UsedBytes() / 1e6:F0} MB in use of {options.DiskBudgetBytes / 1e6:F0} MB; " +
                         $"{swept.Count} stale partial file(s) removed, {evicted.Count} cached item(s) evicted");
        using var prediction = new PredictionJobRunner(storage, device, work, options.Ensemble, fast, compute);
        var runners = new Dictionary<JobKind, IJobRunner>
        {
            [JobKind.Train] = new MemoryReleasingRunner(new TrainingJobRunner(storage, device, work, compute)),
            [JobKind.Predict] = new MemoryReleasingRunner(prediction),
        };
        await using var queue = JobQueue.Create(jobs, storageOptions);
        await new JobWorkerHost(new JobStore(storage), queue, jobs, options, runners, output, notices: JobNoticeQueue.Create(storageOptions, jobs)).RunAsync(stop);
        return 0;
    }
}
