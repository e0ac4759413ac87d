using System.Diagnostics;
using GuidedNet.Imaging.Geometry;
using GuidedNet.Imaging.Nifti;
using GuidedNet.Imaging.Synthetic;
using GuidedNet.Pipeline.Contracts;
using GuidedNet.Pipeline.Jobs;
using GuidedNet.Pipeline.Storage;
using GuidedNet.Pipeline.Tests.Infrastructure;

namespace GuidedNet.PipelineBenchmark;

/// <summary>
/// <c>guidednet-pipeline-bench fullsize [X,Y,Z]</c>: one clinical-size CT (a body phantom with
/// organs, int16, 0.78×0.78×1.5 mm; 512×512×300 by default) dropped on the local pipeline (its own
/// Azurite, guidednet-local, one worker process, a model the pipeline trains first), timed per
/// stage with the peak RSS of the host (validation runs there) and of the worker. With
/// <c>--model FILE</c> (a GuidedNet model file, e.g. the authors' network through
/// <c>guidednet convert --model</c>) that model is registered as the project's production model
/// instead of one the pipeline trains.
/// </summary>
public static class FullSizeCase
{
    private const string Project = "fullsize";

    public static async Task<int> RunAsync(int[] size, string? model = null)
    {
        await using var pipeline = ProductPipeline.Create("fullsize");
        var host = await pipeline.StartHostAsync(withWorker: false);
        var worker = pipeline.StartWorker("w1");
        if (model is not null)
        {
            string path = $"models/{Project}/imported/model.guidednet";
            await pipeline.Storage.UploadFileAsync(path, model);
            await pipeline.Storage.WriteJsonAsync(BlobLayout.Production(Project), new ProductionModel(Project, "imported", path, 0,
                $"datasets/{Project}/manifests/imported.json", DateTime.UtcNow, new TrainRequest()));
        }
        else
        {
            // Training phantoms at 2×2×2.5 mm: the model's plan then resamples the CT to 2×2×2.5 mm
            // (200×200×180 voxels for the default case), as a clinical model's coarser grid would.
            string dataset = Path.Combine(Path.GetTempPath(), "bench-fullsize-dataset-" + Guid.NewGuid().ToString("N")[..8]);
            new PhantomGenerator(new PhantomOptions { Classes = 4, Size = (96, 96, 48), SpacingMm = new Vector3d(2, 2, 2.5) }).WriteDataset(dataset, 6, 4, 0, 7);
            foreach (string f in Directory.EnumerateFiles(dataset, "*", SearchOption.AllDirectories))
                await pipeline.Storage.UploadFileAsync($"datasets/{Project}/{Path.GetRelativePath(dataset, f)}", f);
            Directory.Delete(dataset, recursive: true);
            await ProductPipeline.TrainModelAsync(pipeline, Project);
        }
        double hostBefore = host.PeakRssMb(), workerBefore = worker.PeakRssMb();

        var clock = Stopwatch.StartNew();
        var generator = new PhantomGenerator(new PhantomOptions
        {
            Classes = 4, Size = (size[0], size[1], size[2]), RandomOrientation = false, SpacingMm = new Vector3d(0.78, 0.78, 1.5),
        });
        var (image, _) = generator.Generate(11);
        string file = Path.Combine(Path.GetTempPath(), $"bench-fullsize-{Guid.NewGuid():N}.nii.gz");
        NiftiWriter.Write(file, image, NiftiDataType.Int16);
        double writeSeconds = clock.Elapsed.TotalSeconds;
        long bytes = new FileInfo(file).Length;

        var uploadStart = DateTime.UtcNow;
        await pipeline.Storage.UploadFileAsync(BlobLayout.IncomingScan(Project, "ct.nii.gz"), file);
        var landed = DateTime.UtcNow;
        File.Delete(file);
        var latest = await pipeline.WaitForAsync(() => pipeline.Storage.ReadJsonAsync<LatestResult>(BlobLayout.LatestResult(Project, "ct")),
            TimeSpan.FromMinutes(30), "the CT's result", TimeSpan.FromSeconds(1));
        var job = (await pipeline.Storage.ReadJsonAsync<JobStatus>(JobStore.StatusPath(JobIds.For(latest.Run, JobKind.Predict))))!;
        var report = (await pipeline.Storage.ReadJsonAsync<ScanReport>(latest.Report))!;

        Console.WriteLine();
        Console.WriteLine($"CT {string.Join("x", size)} int16, 0.78x0.78x1.5 mm, {bytes / 1e6:F0} MB gzipped (written in {writeSeconds:F0} s); " +
                          $"model: {(model is null ? "the pipeline's tiny one (width 4, patch 16x32x32, trained on phantoms at 2x2x2.5 mm, which is its plan's spacing)" : model)}; {Environment.ProcessorCount} cores; {DateTime.UtcNow:yyyy-MM-dd}");
        Console.WriteLine();
        Console.WriteLine("| stage | process | seconds |");
        Console.WriteLine("|---|---|---:|");
        Console.WriteLine($"| upload to the drop zone | (client) | {(landed - uploadStart).TotalSeconds:F1} |");
        Console.WriteLine($"| landed → job dispatched (drop seen, snapshot, streaming validation, model found) | host | {(job.QueuedUtc - landed).TotalSeconds:F1} |");
        Console.WriteLine($"| waiting for the worker | — | {(job.StartedUtc!.Value - job.QueuedUtc).TotalSeconds:F1} |");
        foreach (var (stage, seconds) in report.TimingsSeconds)
            Console.WriteLine($"| {stage} | worker | {seconds:F1} |");
        Console.WriteLine($"| job finished → result published | host | {(latest.UpdatedUtc - job.FinishedUtc!.Value).TotalSeconds:F1} |");
        Console.WriteLine($"| landed → result published | all | {(latest.UpdatedUtc - landed).TotalSeconds:F1} |");
        Console.WriteLine();
        Console.WriteLine("| process | peak RSS MB before the CT | peak RSS MB after | target |");
        Console.WriteLine("|---|---:|---:|---:|");
        Console.WriteLine($"| guidednet-local (host, validation) | {hostBefore:F0} | {host.PeakRssMb():F0} | ≤ 500 |");
        Console.WriteLine(worker.HasExited
            ? $"| guidednet worker | {workerBefore:F0} | (exited before the result; its output follows) | ≤ 3000 |\n{worker.Output}"
            : $"| guidednet worker | {workerBefore:F0} | {worker.PeakRssMb():F0} | ≤ 3000 |");
        Console.WriteLine($"organs found: {string.Join(", ", report.Organs.Select(o => $"{o.Name} {o.VolumeMl:F0} mL"))}");
        return 0;
    }
}
