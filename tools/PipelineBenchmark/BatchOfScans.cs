using System.Collections.Concurrent;
using System.Diagnostics;
using Azure.Storage.Queues;
using GuidedNet.Imaging.Nifti;
using GuidedNet.Imaging.Synthetic;
using GuidedNet.Pipeline.Contracts;
using GuidedNet.Pipeline.Jobs;
using GuidedNet.Pipeline.Results;
using GuidedNet.Pipeline.Storage;
using GuidedNet.Pipeline.Tests.Infrastructure;

namespace GuidedNet.PipelineBenchmark;

/// <summary>
/// <c>guidednet-pipeline-bench batch [scans] [workers] [--no-notices] [--one-azurite]</c>: a batch of small scans dropped at once on
/// the local pipeline (guidednet-local on a private Azurite, real worker processes, a model the
/// pipeline trained first), with the product's monitor settings. Checks that every scan has exactly
/// one result and one summary row and that nothing went to poison or quarantine, and measures per
/// scan: blob landed → job dispatched, the pipeline's own time (that plus job finished → result
/// published), the wait for a free worker and the worker's time.
/// </summary>
public static class BatchOfScans
{
    private const string Project = "batch";

    public static async Task<int> RunAsync(int scans, int workers, bool notices = true, bool separateDurableStorage = true)
    {
        await using var pipeline = ProductPipeline.Create("batch", separateDurableStorage);
        pipeline.Settings["Jobs__Notices"] = notices ? "true" : "false";
        var host = await pipeline.StartHostAsync(withWorker: false);
        var workerProcesses = Enumerable.Range(1, workers).Select(i => pipeline.StartWorker($"w{i}")).ToList();

        // A model for the project: the pipeline trains one on a small dataset first.
        await pipeline.UploadDatasetAsync(Project, cases: 6, labeled: 4, seed: 7);
        await ProductPipeline.TrainModelAsync(pipeline, Project);

        // The scans, written first so that the drops themselves come as fast as uploads go.
        string folder = Path.Combine(Path.GetTempPath(), "bench-batch-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(folder);
        var generator = new PhantomGenerator(new PhantomOptions { Classes = 4, Size = (32, 32, 16) });
        var names = Enumerable.Range(0, scans).Select(i => $"scan{i:D4}").ToList();
        foreach (var (name, i) in names.Select((n, i) => (n, i)))
            NiftiWriter.Write(Path.Combine(folder, name + ".nii.gz"), generator.Generate(5000 + i).Image, NiftiDataType.Int16);

        var landed = new ConcurrentDictionary<string, DateTime>();
        var cpuBefore = CpuSeconds(pipeline, host, workerProcesses);
        var clock = Stopwatch.StartNew();
        await Parallel.ForEachAsync(names, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (name, _) =>
        {
            await pipeline.Storage.UploadFileAsync(BlobLayout.IncomingScan(Project, name + ".nii.gz"), Path.Combine(folder, name + ".nii.gz"));
            landed[name] = DateTime.UtcNow;
        });
        double dropSeconds = clock.Elapsed.TotalSeconds;
        Directory.Delete(folder, recursive: true);

        // Every scan segmented and published, or the time limit. The project summary (one read) says
        // how many are: reading every scan's latest.json each round would itself load Azurite with
        // hundreds of requests a second and slow the pipeline it measures.
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(20 + scans / 20.0);
        int published = 0;
        while (published < scans)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{published} of {scans} scans in the summary by the deadline\n{pipeline.ProcessOutput}");
            await Task.Delay(2000);
            published = (await pipeline.Storage.ReadJsonAsync<ProjectSummary>(BlobLayout.Summary(Project)))?.Cases ?? 0;
        }
        double wallSeconds = clock.Elapsed.TotalSeconds;
        var cpu = CpuSeconds(pipeline, host, workerProcesses).Zip(cpuBefore, (after, before) => (after.Name, Seconds: after.Seconds - before.Seconds)).ToList();
        var latest = new ConcurrentDictionary<string, LatestResult>();
        await Parallel.ForEachAsync(names, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (name, _) =>
            latest[name] = await pipeline.Storage.ReadJsonAsync<LatestResult>(BlobLayout.LatestResult(Project, name))
                           ?? throw new InvalidOperationException($"{name} is in the summary but has no latest.json"));

        // What each scan left: one run folder, its job's times.
        var runFolders = new ConcurrentDictionary<string, int>();
        var jobs = new ConcurrentDictionary<string, JobStatus>();
        await Parallel.ForEachAsync(names, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (name, _) =>
        {
            runFolders[name] = (await pipeline.Storage.ListFoldersAsync(BlobLayout.CaseResults(Project, name))).Count;
            jobs[name] = (await pipeline.Storage.ReadJsonAsync<JobStatus>(JobStore.StatusPath(JobIds.For(latest[name].Run, JobKind.Predict))))!;
        });
        var summary = (await pipeline.Storage.ReadJsonAsync<ProjectSummary>(BlobLayout.Summary(Project)))!;
        var quarantined = (await pipeline.Storage.ListAsync($"{BlobLayout.Quarantine}/")).Count;
        var poison = new QueueClient(pipeline.ConnectionString, pipeline.Queue + "-poison");
        int poisoned = await poison.ExistsAsync() ? (await poison.GetPropertiesAsync()).Value.ApproximateMessagesCount : 0;

        List<double> Seconds(Func<string, TimeSpan> of) => names.Select(n => of(n).TotalSeconds).Order().ToList();
        var dispatch = Seconds(n => jobs[n].QueuedUtc - landed[n]);
        var own = Seconds(n => jobs[n].QueuedUtc - landed[n] + (latest[n].UpdatedUtc - jobs[n].FinishedUtc!.Value));
        var publish = Seconds(n => latest[n].UpdatedUtc - jobs[n].FinishedUtc!.Value);
        var queued = Seconds(n => jobs[n].StartedUtc!.Value - jobs[n].QueuedUtc);
        var worker = Seconds(n => jobs[n].FinishedUtc!.Value - jobs[n].StartedUtc!.Value);
        static double Quantile(List<double> sorted, double q) => sorted[(int)Math.Min(sorted.Count - 1, Math.Round(q * (sorted.Count - 1)))];

        Console.WriteLine();
        Console.WriteLine($"{scans} scans of 32x32x16 dropped in {dropSeconds:F1} s (8 uploads at a time), {workers} worker processes, all published after {wallSeconds:F0} s");
        Console.WriteLine($"({Environment.ProcessorCount} cores; drop-zone poll 0.5 s, monitor poll interval 5 s, job notices {(notices ? "on" : "off")}; durable backend {(separateDurableStorage ? "in its own Azurite" : "in the pipeline's Azurite")}; {DateTime.UtcNow:yyyy-MM-dd})");
        Console.WriteLine();
        Console.WriteLine("| check | value | expected |");
        Console.WriteLine("|---|---:|---:|");
        Console.WriteLine($"| scans with exactly one result folder | {runFolders.Values.Count(c => c == 1)} | {scans} |");
        Console.WriteLine($"| jobs succeeded on their first attempt | {jobs.Values.Count(j => j.State == JobState.Succeeded && j.Attempt == 1)} | {scans} |");
        Console.WriteLine($"| summary rows (distinct cases) | {summary.Reports.Select(r => r.Case).Distinct().Count()} | {scans} |");
        Console.WriteLine($"| blobs in quarantine | {quarantined} | 0 |");
        Console.WriteLine($"| poisoned job messages | {poisoned} | 0 |");
        Console.WriteLine();
        Console.WriteLine("| per scan, seconds | median | p95 | max |");
        Console.WriteLine("|---|---:|---:|---:|");
        foreach (var (label, values) in new[]
                 {
                     ("blob landed → job dispatched", dispatch), ("job finished → result published", publish),
                     ("pipeline's own time (the two above)", own), ("waiting for a free worker", queued), ("in the worker", worker),
                 })
            Console.WriteLine($"| {label} | {Quantile(values, 0.5):F2} | {Quantile(values, 0.95):F2} | {values[^1]:F2} |");
        Console.WriteLine();
        Console.WriteLine("| CPU while the batch ran | seconds | per scan |");
        Console.WriteLine("|---|---:|---:|");
        foreach (var (name, seconds) in cpu)
            Console.WriteLine($"| {name} | {seconds:F1} | {seconds / scans:F2} |");
        Console.WriteLine($"| all, of {Environment.ProcessorCount} cores × {wallSeconds:F0} s = {Environment.ProcessorCount * wallSeconds:F0} s | {cpu.Sum(c => c.Seconds):F1} | {cpu.Sum(c => c.Seconds) / scans:F2} |");
        Console.WriteLine();
        Console.WriteLine($"host peak RSS {host.PeakRssMb():F0} MB; workers {string.Join(", ", workerProcesses.Select(w => $"{w.PeakRssMb():F0}"))} MB");
        bool ok = runFolders.Values.All(c => c == 1) && summary.Reports.Count == scans && quarantined == 0 && poisoned == 0
                  && jobs.Values.All(j => j.State == JobState.Succeeded);
        return ok ? 0 : 1;
    }

    /// <summary>CPU seconds used so far by each process of the pipeline: the host, the Azurite(s), the workers together.</summary>
    private static List<(string Name, double Seconds)> CpuSeconds(PipelineHarness pipeline, ChildProcess host, IReadOnlyList<ChildProcess> workers)
    {
        var (storage, durable) = pipeline.AzuriteCpuSeconds();
        var all = new List<(string, double)> { ("guidednet-local (orchestrations, API, drop zone)", host.CpuSeconds()) };
        all.Add((durable is null ? "Azurite (blobs, job queue, durable backend)" : "Azurite (blobs, job queue)", storage));
        if (durable is { } d) all.Add(("Azurite (durable backend)", d));
        all.Add(($"{workers.Count} workers", workers.Sum(w => w.CpuSeconds())));
        return all;
    }
}
