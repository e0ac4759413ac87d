using System.Diagnostics;
using System.Globalization;
using GuidedNet.Imaging.Nifti;
using GuidedNet.Imaging.Synthetic;
using GuidedNet.Pipeline.Contracts;
using GuidedNet.Pipeline.Jobs;
using GuidedNet.Pipeline.Orchestrations;
using GuidedNet.Pipeline.Storage;
using GuidedNet.Pipeline.Tests.Infrastructure;

// guidednet-pipeline-bench: the orchestration side of the pipeline on this machine, with the real
// local host on a private Azurite. (1) latency from a scan blob landing to its GPU job being
// dispatched; (2) the time the train orchestration needs per case to list, validate (fan-out)
// and register a 100-case dataset before it dispatches the training job. No worker runs: the
// numbers are the pipeline's own overhead, not model time (scripts/demo.sh prints that split).
// guidednet-pipeline-bench batch [scans] [workers] [--no-notices] [--one-azurite]: a batch of scans through real workers (BatchOfScans.cs).
if (args.Length > 0 && args[0] == "batch")
{
    var numbers = args.Skip(1).Where(a => !a.StartsWith("--", StringComparison.Ordinal)).Select(a => int.Parse(a, CultureInfo.InvariantCulture)).ToList();
    return await GuidedNet.PipelineBenchmark.BatchOfScans.RunAsync(numbers.Count > 0 ? numbers[0] : 1000, numbers.Count > 1 ? numbers[1] : 4,
        notices: !args.Contains("--no-notices"), separateDurableStorage: !args.Contains("--one-azurite"));
}

// guidednet-pipeline-bench azurite-queues: the cost of a queue request as Azurite's other queues fill (AzuriteQueues.cs).
if (args.Length > 0 && args[0] == "azurite-queues")
    return await GuidedNet.PipelineBenchmark.AzuriteQueues.RunAsync();

// guidednet-pipeline-bench fullsize [X,Y,Z] [--model FILE]: one clinical-size CT end to end (FullSizeCase.cs).
if (args.Length > 0 && args[0] == "fullsize")
{
    string? model = null, size = null;
    for (int i = 1; i < args.Length; i++)
        if (args[i] == "--model" && i + 1 < args.Length) model = args[++i];
        else size = args[i];
    return await GuidedNet.PipelineBenchmark.FullSizeCase.RunAsync(
        size is null ? [512, 512, 300] : size.Split(',').Select(v => int.Parse(v, CultureInfo.InvariantCulture)).ToArray(), model);
}

int drops = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 10;
int cases = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 100;
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;

await using var pipeline = GuidedNet.PipelineBenchmark.ProductPipeline.Create("bench");
await pipeline.StartHostAsync(withWorker: false);

// (1) drop → dispatch. A production pointer is all dispatch needs; no worker consumes the job.
const string project = "latency";
await pipeline.Storage.WriteJsonAsync(BlobLayout.Production(project), new ProductionModel(project, "v1", "models/latency/v1/model.guidednet", 0.5,
    "datasets/latency/manifests/v1.json", DateTime.UtcNow, new TrainRequest()));
var generator = new PhantomGenerator(new PhantomOptions { Classes = 4, Size = (32, 32, 16) });
var latencies = new List<double>();
for (int i = 0; i < drops; i++)
{
    string file = Path.Combine(Path.GetTempPath(), $"bench-{Guid.NewGuid():N}.nii.gz");
    NiftiWriter.Write(file, generator.Generate(1000 + i).Image, NiftiDataType.Int16);
    string caseName = $"scan{i:D3}";
    await pipeline.Storage.UploadFileAsync(BlobLayout.IncomingScan(project, caseName + ".nii.gz"), file);
    var landed = DateTime.UtcNow;
    File.Delete(file);
    var status = await pipeline.WaitForAsync(async () =>
    {
        string? job = (await pipeline.Storage.ListFoldersAsync("jobs/")).FirstOrDefault(j => j.StartsWith(RunIds.ScanPrefix(project, caseName), StringComparison.Ordinal));
        return job is null ? null : await pipeline.Storage.ReadJsonAsync<JobStatus>(JobStore.StatusPath(job));
    }, TimeSpan.FromSeconds(60), $"dispatch of {caseName}");
    latencies.Add((status.QueuedUtc - landed).TotalSeconds);
    // No worker will run the job: cancel the run so that each drop meets a quiet pipeline, as a
    // drop does when earlier scans are done (left running, every waiting run's monitor polls).
    string runId = status.JobId[..status.JobId.LastIndexOf(RunIds.Separator)];
    (await pipeline.Http.PostAsync($"api/runs/{runId}/cancel", null)).EnsureSuccessStatusCode();
    await Task.Delay(Random.Shared.Next(200, 1200)); // land at random points of the poll cycle
}

// (2) a 100-case dataset: list, validate in parallel batches, write the manifest, dispatch.
const string dataset = "ingest";
string folder = Path.Combine(Path.GetTempPath(), "bench-dataset-" + Guid.NewGuid().ToString("N")[..8]);
new PhantomGenerator(new PhantomOptions { Classes = 4, Size = (24, 24, 12) }).WriteDataset(folder, cases, cases / 5, 0, 3);
foreach (string file in Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories))
    await pipeline.Storage.UploadFileAsync($"datasets/{dataset}/{Path.GetRelativePath(folder, file)}", file);
Directory.Delete(folder, recursive: true);
var clock = Stopwatch.StartNew();
var requested = DateTime.UtcNow;
string id = await pipeline.StartTrainingAsync(dataset, PipelineHarness.TinyTraining());
var dispatched = await pipeline.WaitForAsync(() => pipeline.Storage.ReadJsonAsync<JobStatus>(JobStore.StatusPath(JobIds.For(id, JobKind.Train))), TimeSpan.FromMinutes(5), "the training dispatch");
double ingest = (dispatched.QueuedUtc - requested).TotalSeconds;
var manifest = await pipeline.Storage.ReadJsonAsync<DatasetManifest>(((await pipeline.Storage.ListAsync($"datasets/{dataset}/manifests/")).Single()).Path);

var order = latencies.ToList();
latencies.Sort();
double Median(List<double> v) => v.Count % 2 == 1 ? v[v.Count / 2] : (v[v.Count / 2 - 1] + v[v.Count / 2]) / 2;
Console.WriteLine();
Console.WriteLine($"| measure | value | target |");
Console.WriteLine($"|---|---|---|");
Console.WriteLine($"| blob landed → job dispatched, median of {drops} | {Median(latencies):F2} s | ≤ 2 s |");
Console.WriteLine($"| blob landed → job dispatched, max of {drops} | {latencies[^1]:F2} s | |");
Console.WriteLine($"| ingest {cases} cases (list, validate, manifest, dispatch) | {ingest:F1} s | |");
Console.WriteLine($"| per case | {1000 * ingest / cases:F0} ms | |");
Console.WriteLine($"| cases accepted / quarantined | {manifest!.Cases.Count} / {manifest.Quarantined.Count} | |");
Console.WriteLine($"latencies, in drop order: {string.Join(", ", order.Select(l => l.ToString("F2")))} s");
Console.WriteLine($"(drop-zone poll 0.5 s, backend queue polling ≤ 0.25 s, monitor poll 5 s; {Environment.ProcessorCount} cores; {DateTime.UtcNow:yyyy-MM-dd})");
return 0;
