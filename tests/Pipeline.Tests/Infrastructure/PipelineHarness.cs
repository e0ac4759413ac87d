using System.Net.Http.Json;
using System.Text.Json;
using GuidedNet.Imaging.Synthetic;
using GuidedNet.Pipeline.Options;
using GuidedNet.Pipeline.Storage;

namespace GuidedNet.Pipeline.Tests.Infrastructure;

/// <summary>
/// One test's pipeline: its own Azurite (so no test sees another's drop zone), task hub and job queue, the real
/// guidednet-local host and guidednet worker processes, an HTTP client for the API and direct
/// storage access for arranging inputs and checking outputs.
/// </summary>
public sealed class PipelineHarness : IAsyncDisposable
{
    private readonly List<ChildProcess> _processes = new();
    private readonly string _work;

    private readonly Azurite _azurite = new();
    private readonly Azurite? _durableAzurite;

    /// <param name="name">names the task hub and the job queue</param>
    /// <param name="separateDurableStorage">the durable backend's queues and tables in a second Azurite (LocalHost:DurableStorageConnectionString), as scripts/demo.sh runs it</param>
    public PipelineHarness(string name, bool separateDurableStorage = false)
    {
        _durableAzurite = separateDurableStorage ? new Azurite() : null;
        string suffix = Guid.NewGuid().ToString("N")[..6];
        TaskHub = "t" + name.Replace("-", "") + suffix; // letters and digits: a task hub name
        Queue = $"jobs-{name}-{suffix}".ToLowerInvariant();
        ConnectionString = _azurite.ConnectionString;
        Storage = PipelineStorage.Create(new StorageOptions { ConnectionString = ConnectionString });
        Storage.EnsureContainersAsync().GetAwaiter().GetResult();
        ApiPort = Azurite.FreePort();
        GrpcPort = Azurite.FreePort();
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{ApiPort}/"), Timeout = TimeSpan.FromSeconds(30) };
        _work = Path.Combine(Path.GetTempPath(), "guidednet-pipeline-tests", suffix);
    }

    public string TaskHub { get; }
    public string Queue { get; }
    public string ConnectionString { get; }

    /// <summary>CPU seconds used so far by the pipeline's Azurite and by the durable backend's, when it has its own.</summary>
    public (double Pipeline, double? Durable) AzuriteCpuSeconds() => (_azurite.CpuSeconds(), _durableAzurite?.CpuSeconds());

    /// <summary>Where the durable backend keeps its queues and tables.</summary>
    public string DurableConnectionString => _durableAzurite?.ConnectionString ?? ConnectionString;
    public int ApiPort { get; }
    public int GrpcPort { get; }
    public PipelineStorage Storage { get; }
    public HttpClient Http { get; }

    /// <summary>Monitor settings short enough for tests: 1 s polls, 6 s heartbeat timeout.</summary>
    public Dictionary<string, string> Settings { get; } = new()
    {
        ["Jobs__PollInterval"] = "00:00:01",
        ["Jobs__HeartbeatTimeout"] = "00:00:06",
        ["Jobs__MaxAttempts"] = "3",
        ["Jobs__VisibilityTimeout"] = "00:00:20",
        ["Schedule__DropZonePoll"] = "00:00:01",
        ["Schedule__Retrain"] = "0 0 3 1 1 *",
        // Workers train without oneDNN: on the CI machines its convolution backward is not
        // reproducible (docs/performance.md, "Numerical faults"); these tests test the pipeline.
        ["Worker__UseOneDnn"] = "false",
    };

    private Dictionary<string, string> Environment() => new(Settings)
    {
        ["Storage__ConnectionString"] = ConnectionString,
        ["Jobs__QueueName"] = Queue,
        ["LocalHost__TaskHub"] = TaskHub,
        ["LocalHost__ApiPort"] = ApiPort.ToString(),
        ["LocalHost__GrpcPort"] = GrpcPort.ToString(),
    };

    /// <summary>Starts guidednet-local (optionally with its own worker) and waits for its API.</summary>
    public async Task<ChildProcess> StartHostAsync(bool withWorker)
    {
        var env = Environment();
        env["LocalHost__DurableStorageConnectionString"] = DurableConnectionString;
        if (withWorker)
        {
            env["LocalHost__WorkerCommand"] = $"dotnet {Processes.GuidedNet}";
            env["LocalHost__WorkerArguments"] = $"--threads 1 --heartbeat 1 --work {Path.Combine(_work, "host-worker")}";
        }
        var host = new ChildProcess(Processes.LocalHost, Array.Empty<string>(), env);
        _processes.Add(host);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            if (host.HasExited) throw new InvalidOperationException("guidednet-local exited:\n" + host.Output);
            try
            {
                if ((await Http.GetAsync("api/health")).IsSuccessStatusCode) return host;
            }
            catch (HttpRequestException)
            {
            }
            if (DateTime.UtcNow > deadline) throw new TimeoutException("guidednet-local did not answer within 60 s:\n" + host.Output);
            await Task.Delay(200);
        }
    }

    /// <summary>The work folder of the worker started as <paramref name="name"/>.</summary>
    public string WorkerFolder(string name) => Path.Combine(_work, name);

    /// <summary>Starts a separate <c>guidednet worker</c> process, with <paramref name="settings"/> added to its environment.</summary>
    public ChildProcess StartWorker(string name, IReadOnlyDictionary<string, string>? settings = null)
    {
        var environment = Environment();
        foreach (var (key, value) in settings ?? new Dictionary<string, string>()) environment[key] = value;
        var worker = new ChildProcess(Processes.GuidedNet,
            new[] { "worker", "--threads", "1", "--heartbeat", "1", "--name", name, "--work", WorkerFolder(name) }, environment);
        _processes.Add(worker);
        return worker;
    }

    /// <summary>A synthetic MSD dataset (4 classes, small phantoms) uploaded under datasets/&lt;name&gt;/.</summary>
    public async Task UploadDatasetAsync(string dataset, int cases, int labeled, int seed)
    {
        string folder = Path.Combine(_work, "upload-" + dataset);
        new PhantomGenerator(new PhantomOptions { Classes = 4, Size = (40, 40, 20) }).WriteDataset(folder, cases, labeled, 0, seed);
        foreach (string file in Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories))
            await Storage.UploadFileAsync($"datasets/{dataset}/{Path.GetRelativePath(folder, file)}", file);
    }

    /// <summary>One phantom scan and its label written locally (for dropping).</summary>
    public (string Image, string Label) Phantom(string caseName, int seed)
    {
        string folder = Path.Combine(_work, "scans");
        Directory.CreateDirectory(folder);
        var (image, label) = new PhantomGenerator(new PhantomOptions { Classes = 4, Size = (40, 40, 20) }).Generate(seed);
        string imagePath = Path.Combine(folder, caseName + ".nii.gz"), labelPath = Path.Combine(folder, caseName + "_label.nii.gz");
        Imaging.Nifti.NiftiWriter.Write(imagePath, image, Imaging.Nifti.NiftiDataType.Int16);
        Imaging.Nifti.NiftiWriter.Write(labelPath, label, Imaging.Nifti.NiftiDataType.UInt8);
        return (imagePath, labelPath);
    }

    /// <summary>
    /// A small, fast training request (CPU, a few seconds). Supervised: these tests are about the
    /// pipeline and need a training run that ends the same way on every machine, while GuidedNet
    /// mode at this tiny width can diverge to NaN on some CPUs (docs/pipeline.md; the pipeline
    /// carries on either way, but the model is then worthless). GuidedNet training itself is
    /// tested in GuidedNet.Tests.
    /// </summary>
    public static object TinyTraining(int iterations = 20, double? margin = null, int checkpointEvery = 10) => new
    {
        mode = "supervised",
        iterations,
        patch = new[] { 16, 32, 32 },
        batch = 2,
        labeledBatch = 1,
        baseChannels = 4,
        validateEvery = Math.Max(1, iterations / 2),
        checkpointEvery,
        validationFraction = 0.25,
        rampupIterations = 10,
        promotionMargin = margin,
    };

    public async Task<string> StartTrainingAsync(string dataset, object request)
    {
        var response = await Http.PostAsJsonAsync($"api/datasets/{dataset}/train", request);
        string body = await response.Content.ReadAsStringAsync();
        if (response.StatusCode != System.Net.HttpStatusCode.Accepted)
            throw new InvalidOperationException($"POST train: {(int)response.StatusCode} {body}\n{ProcessOutput}");
        return JsonDocument.Parse(body).RootElement.GetProperty("id").GetString()!;
    }

    public async Task<JsonElement> GetRunAsync(string id)
    {
        var response = await Http.GetAsync($"api/runs/{id}");
        string body = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"GET run {id}: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    /// <summary>Polls the run until it ends; fails the test with the processes' output on timeout.</summary>
    public async Task<JsonElement> WaitForRunAsync(string id, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var run = await GetRunAsync(id);
            if (run.GetProperty("state").GetString() is "Completed" or "Failed" or "Terminated") return run;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"run {id} still {run} after {timeout}:\n" + string.Join("\n----\n", _processes.Select(p => p.Output)));
            await Task.Delay(500);
        }
    }

    public async Task<T> WaitForAsync<T>(Func<Task<T?>> probe, TimeSpan timeout, string what, TimeSpan? poll = null) where T : class
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (await probe() is { } value) return value;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"{what} did not happen within {timeout}:\n" + string.Join("\n----\n", _processes.Select(p => p.Output)));
            await Task.Delay(poll ?? TimeSpan.FromMilliseconds(250));
        }
    }

    /// <summary>Whether any of the processes printed <paramref name="text"/> (all of their output, not only its tail).</summary>
    public bool Printed(string text) => _processes.Any(p => p.Printed(text));

    public string ProcessOutput => string.Join("\n----\n", _processes.Select(p => p.Output));

    public ValueTask DisposeAsync()
    {
        foreach (var p in _processes) p.Dispose();
        Http.Dispose();
        _azurite.Dispose();
        _durableAzurite?.Dispose();
        try
        {
            Directory.Delete(_work, recursive: true);
        }
        catch (IOException)
        {
        }
        return ValueTask.CompletedTask;
    }
}
