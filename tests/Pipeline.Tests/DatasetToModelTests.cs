using System.IO.Compression;
using System.Net.Http.Json;
using System.Text.Json;
using Azure.Storage.Queues;
using GuidedNet.Imaging.Dicom;
using GuidedNet.Imaging.Nifti;
using GuidedNet.Pipeline.Contracts;
using GuidedNet.Pipeline.Orchestrations;
using GuidedNet.Pipeline.Storage;
using GuidedNet.Pipeline.Tests.Infrastructure;
using GuidedNet.TestSupport.Dicom;

namespace GuidedNet.Pipeline.Tests;

/// <summary>
/// The product's main path with real processes (guidednet-local on Azurite, guidednet worker):
/// a dataset becomes a production model, a worse one stays a candidate, dropped scans come back
/// as masks, reports and summaries exactly once, and the schedule retrains only when there is
/// something new.
/// </summary>
[Collection(PipelineCollection.Name)]
public sealed class DatasetToModelTests
{
    [Fact]
    public async Task Dataset_becomes_a_production_model_then_scans_are_segmented_once_and_join_the_pool()
    {
        await using var pipeline = new PipelineHarness("main", separateDurableStorage: true);
        const string project = "liver-ct";
        await pipeline.UploadDatasetAsync(project, cases: 8, labeled: 4, seed: 11);
        await pipeline.StartHostAsync(withWorker: false);
        var worker = pipeline.StartWorker("w1");

        // (2) dataset to model: the first model of a dataset is promoted.
        string first = await pipeline.StartTrainingAsync(project, PipelineHarness.TinyTraining());
        var run = await pipeline.WaitForRunAsync(first, TimeSpan.FromMinutes(3));
        Assert.True(run.GetProperty("state").GetString() == "Completed", run.ToString());
        var output = run.GetProperty("output");
        Assert.True(output.GetProperty("promoted").GetBoolean(), output.ToString());
        Assert.Equal(8, output.GetProperty("cases").GetInt32());
        Assert.Equal(0, output.GetProperty("quarantined").GetInt32());
        Assert.Equal("done", run.GetProperty("progress").GetProperty("phase").GetString());
        var job = run.GetProperty("progress").GetProperty("job");
        Assert.Equal("succeeded", job.GetProperty("state").GetString());
        Assert.Equal(20, job.GetProperty("iteration").GetInt32());
        Assert.True(job.GetProperty("losses").GetProperty("total").GetDouble() > 0);
        // As scripts/demo.sh runs it: the durable backend's queues in their own Azurite, the job queue beside the blobs.
        string hub = pipeline.TaskHub.ToLowerInvariant();
        var durableQueues = await QueueNamesAsync(pipeline.DurableConnectionString);
        var dataQueues = await QueueNamesAsync(pipeline.ConnectionString);
        Assert.Contains($"{hub}-workitems", durableQueues);
        Assert.Contains(durableQueues, q => q.StartsWith($"{hub}-control-", StringComparison.Ordinal));
        Assert.DoesNotContain(dataQueues, q => q.StartsWith(hub, StringComparison.Ordinal));
        Assert.Contains(pipeline.Queue, dataQueues);
        // Its outputs are in storage: the worker's local job folder (dataset, cache, checkpoints) is gone.
        Assert.Empty(Directory.GetDirectories(Path.Combine(pipeline.WorkerFolder("w1"), "jobs")));

        string version = output.GetProperty("version").GetString()!;
        var production = await pipeline.Storage.ReadJsonAsync<ProductionModel>(BlobLayout.Production(project));
        Assert.NotNull(production);
        Assert.Equal(version, production.Version);
        foreach (string file in new[] { "model.guidednet", "training.json", "curves.png", "metrics.json", "model-card.md", "registration.json" })
            Assert.True(await pipeline.Storage.ExistsAsync($"models/{project}/{version}/{file}"), $"models/{project}/{version}/{file} missing");
        var metrics = await pipeline.Storage.ReadJsonAsync<ModelMetrics>($"models/{project}/{version}/metrics.json");
        Assert.NotNull(metrics!.ValidationMeanDice);
        Assert.InRange(metrics.ValidationMeanDice!.Value, 0, 1);
        Assert.Equal(metrics.ValidationMeanDice, production.ValidationMeanDice);
        var manifest = await pipeline.Storage.ReadJsonAsync<DatasetManifest>(production.ManifestPath);
        Assert.Equal(8, manifest!.Cases.Count);
        // The card and metrics say what trained: every case of the manifest, as labeled, unlabeled or validation.
        Assert.NotNull(metrics.Cases);
        Assert.Equal(8, metrics.Cases!.Labeled + metrics.Cases.Unlabeled + metrics.Cases.Validation);
        string firstCard = System.Text.Encoding.UTF8.GetString(await pipeline.Storage.ReadBytesAsync($"models/{project}/{version}/model-card.md", 1 << 20));
        Assert.Contains($"- Cases: {metrics.Cases.Labeled} labeled, {metrics.Cases.Unlabeled} unlabeled, {metrics.Cases.Validation} validation", firstCard);
        Assert.Contains("- Post-processing: ", firstCard);
        // The worker's fast mode for this model was decided on its validation cases, and the model file carries it.
        Assert.NotNull(metrics.FastParts);
        Assert.Contains($"- Fast prediction (`Worker__Fast=fast`): {metrics.FastParts} — {metrics.FastPartsReason}", firstCard);
        // The real run's card carries the plan from its training.json and the pinned dataset.json's labels.
        Assert.DoesNotContain("not recorded", firstCard);
        Assert.Contains("- name: ", firstCard);
        Assert.Contains($"(n = {metrics.Cases.Validation} validation case", firstCard);
        Assert.Matches(@"\| 1 \| [^|]+ \| #[0-9a-f]{6} \|", firstCard);
        Assert.Equal(4, manifest.Cases.Count(c => c.Label is not null));
        Assert.All(manifest.Cases, c => Assert.NotNull(c.Image.Md5));

        // (3) the schedule with nothing new: no run.
        var retrain = await pipeline.Http.PostAsJsonAsync("api/retrain", new { });
        Assert.Equal(0, JsonDocument.Parse(await retrain.Content.ReadAsStringAsync()).RootElement.GetProperty("started").GetArrayLength());

        // (2) a model that cannot beat production by the margin stays a candidate.
        string second = await pipeline.StartTrainingAsync(project, PipelineHarness.TinyTraining(margin: 1.0));
        run = await pipeline.WaitForRunAsync(second, TimeSpan.FromMinutes(3));
        Assert.True(run.GetProperty("state").GetString() == "Completed", run.ToString());
        Assert.False(run.GetProperty("output").GetProperty("promoted").GetBoolean());
        string candidate = run.GetProperty("output").GetProperty("version").GetString()!;
        Assert.NotEqual(version, candidate);
        Assert.Equal(version, (await pipeline.Storage.ReadJsonAsync<ProductionModel>(BlobLayout.Production(project)))!.Version);
        Assert.True(await pipeline.Storage.ExistsAsync($"models/{project}/{candidate}/model.guidednet"));
        string card = System.Text.Encoding.UTF8.GetString(await pipeline.Storage.ReadBytesAsync($"models/{project}/{candidate}/model-card.md", 1 << 20));
        Assert.Contains("candidate", card);

        // (1) drop to mask, with ground truth: mask in the scan's geometry, report with Dice/HD95/ASD
        // naming the exact bytes it came from, preview, latest.json, summary.
        var (image, label) = pipeline.Phantom("patient-007", seed: 501);
        await pipeline.Storage.UploadFileAsync(BlobLayout.ScanLabel(project, "patient-007"), label);
        await pipeline.Storage.UploadFileAsync(BlobLayout.IncomingScan(project, "patient-007.nii.gz"), image);
        var latest = await pipeline.WaitForAsync(() => pipeline.Storage.ReadJsonAsync<LatestResult>(BlobLayout.LatestResult(project, "patient-007")),
            TimeSpan.FromMinutes(2), "the scan's result");
        var report = (await pipeline.Storage.ReadJsonAsync<ScanReport>(latest.Report))!;
        Assert.Equal(latest.Run, report.Run);
        Assert.Equal(BlobLayout.ResultPrefix(project, "patient-007", RunIds.LastPart(latest.Run)), latest.ResultPrefix);
        Assert.Equal(version, report.ModelVersion);
        Assert.Equal("exact", report.Prediction);
        Assert.Equal(BlobLayout.IncomingScan(project, "patient-007.nii.gz"), report.Scan.Path);
        Assert.Equal(Md5(image), report.Scan.Md5);
        Assert.NotNull(report.Scan.Snapshot);
        Assert.Equal(Md5(label), report.Label!.Md5);
        Assert.Equal(3, report.Organs.Count);
        Assert.All(report.Organs, o => Assert.True(o.Dice is >= 0 and <= 1, $"{o.Name}: Dice {o.Dice}"));
        Assert.Contains(report.Organs, o => o.Hd95 is not null && o.Asd is not null);
        Assert.True(report.MeanDice is > 0, $"mean Dice {report.MeanDice}");
        var scan = NiftiReader.Read(image);
        using var temp = new Storage.TempFolder();
        await pipeline.Storage.DownloadFileAsync(report.Mask, temp.File("mask.nii.gz"));
        Assert.Equal(report.MaskMd5, Md5(temp.File("mask.nii.gz")));
        var mask = NiftiReader.Read(temp.File("mask.nii.gz"));
        Assert.True(mask.SameGrid(scan));
        Assert.True(mask.Affine.ApproximatelyEquals(scan.Affine, 1e-5));
        double voxelMl = scan.Spacing.X * scan.Spacing.Y * scan.Spacing.Z / 1000;
        foreach (var organ in report.Organs)
        {
            Assert.Equal(mask.Voxels.Count(v => v == organ.Label) * voxelMl, organ.VolumeMl, 6);
            // Organ statistics on the scan's own intensities, for every organ the mask holds.
            if (organ.Voxels == 0) Assert.Null(organ.Statistics);
            else Assert.Equal((organ.Voxels, organ.Name), (organ.Statistics!.Voxels, organ.Statistics.Name));
        }
        Assert.Contains(report.Organs, o => o.Statistics is { IntensityP95: var p95, IntensityP5: var p5 } && p95 >= p5);
        Assert.True(await pipeline.Storage.ExistsAsync(report.Preview!));
        await pipeline.Storage.DownloadFileAsync(report.Labels!, temp.File("labels.json"));
        using (var labelTable = JsonDocument.Parse(File.ReadAllText(temp.File("labels.json"))))
            Assert.All(report.Organs, o => Assert.Equal(o.Name, labelTable.RootElement.GetProperty("labels").GetProperty(o.Label.ToString()).GetString()));
        // The run ends after the summary and the unlabeled pool are updated.
        run = await pipeline.WaitForRunAsync(latest.Run, TimeSpan.FromMinutes(1));
        Assert.True(run.GetProperty("state").GetString() == "Completed", run.ToString());
        Assert.Equal("segmented", run.GetProperty("output").GetProperty("state").GetString());
        var summary = await pipeline.Storage.ReadBytesAsync(BlobLayout.Summary(project), 1 << 20);
        using (var doc = JsonDocument.Parse(summary))
            Assert.Equal(1, doc.RootElement.GetProperty("cases").GetInt32());
        string csv = System.Text.Encoding.UTF8.GetString(await pipeline.Storage.ReadBytesAsync(BlobLayout.SummaryCsv(project), 1 << 20));
        Assert.StartsWith("case,run,model_version,mean_dice,scan,scan_md5", csv);
        Assert.Contains($"patient-007,{latest.Run},{version}", csv);

        // The scan joined the dataset's unlabeled pool.
        Assert.True(await pipeline.Storage.ExistsAsync(BlobLayout.TrainingImage(project, "patient-007")));

        // (4) the same scan dropped again: no second run, the result untouched, latest.json names it for the newer drop.
        await pipeline.Storage.UploadFileAsync(BlobLayout.IncomingScan(project, "patient-007.nii.gz"), image);
        var relatest = await pipeline.WaitForAsync(async () =>
            await pipeline.Storage.ReadJsonAsync<LatestResult>(BlobLayout.LatestResult(project, "patient-007")) is { } l && l.ObservedUtc > latest.ObservedUtc ? l : null,
            TimeSpan.FromMinutes(1), "the second drop to be seen");
        Assert.Equal(latest.Run, relatest.Run);
        Assert.Equal(report.CreatedUtc, (await pipeline.Storage.ReadJsonAsync<ScanReport>(latest.Report))!.CreatedUtc);
        Assert.Single(await pipeline.Storage.ListFoldersAsync("jobs/"), j => j.StartsWith(RunIds.ScanPrefix(project, "patient-007"), StringComparison.Ordinal));

        // (5) the same case name dropped twice with different content while the first run waits for a
        // worker: two runs, two result folders, each report naming its own bytes and mask; the second
        // drop is the case's latest.
        Assert.True(worker.Stop(TimeSpan.FromSeconds(60)), "the idle worker did not stop:\n" + worker.Output);
        string twice = BlobLayout.IncomingScan(project, "patient-008.nii.gz");
        var (firstScan, _) = pipeline.Phantom("patient-008-first", seed: 601);
        var (secondScan, _) = pipeline.Phantom("patient-008-second", seed: 602);
        async Task<string> QueuedJob(string except) => await pipeline.WaitForAsync(async () =>
            (await pipeline.Storage.ListFoldersAsync("jobs/")).FirstOrDefault(j => j.StartsWith(RunIds.ScanPrefix(project, "patient-008"), StringComparison.Ordinal) && j != except),
            TimeSpan.FromMinutes(1), "a dispatched job of patient-008");
        await pipeline.Storage.UploadFileAsync(twice, firstScan);
        string firstJob = await QueuedJob("");
        await pipeline.Storage.UploadFileAsync(twice, secondScan);
        string secondJob = await QueuedJob(firstJob);
        // (w2 predicts in fast mode; each report says so.)
        pipeline.StartWorker("w2", new Dictionary<string, string> { ["Worker__Fast"] = "fast" });
        var reports = new List<ScanReport>();
        foreach (var (dropJob, file) in new[] { (firstJob, firstScan), (secondJob, secondScan) })
        {
            string jobRun = dropJob[..dropJob.LastIndexOf(RunIds.Separator)];
            run = await pipeline.WaitForRunAsync(jobRun, TimeSpan.FromMinutes(2));
            Assert.True(run.GetProperty("state").GetString() == "Completed", run.ToString());
            var r = (await pipeline.Storage.ReadJsonAsync<ScanReport>(BlobLayout.Report(BlobLayout.ResultPrefix(project, "patient-008", RunIds.LastPart(jobRun)))))!;
            Assert.Equal(jobRun, r.Run);
            Assert.Equal(Md5(file), r.Scan.Md5);
            await pipeline.Storage.DownloadFileAsync(r.Mask, temp.File(r.Run + ".nii.gz"));
            Assert.Equal(r.MaskMd5, Md5(temp.File(r.Run + ".nii.gz")));
            Assert.Contains("windows in air skipped", r.Prediction);
            reports.Add(r);
        }
        Assert.NotEqual(reports[0].MaskMd5, reports[1].MaskMd5);
        Assert.Equal(2, (await pipeline.Storage.ListFoldersAsync(BlobLayout.CaseResults(project, "patient-008"))).Count);
        Assert.Equal(reports[1].Run, (await pipeline.Storage.ReadJsonAsync<LatestResult>(BlobLayout.LatestResult(project, "patient-008")))!.Run);
        using (var doc = JsonDocument.Parse(await pipeline.Storage.ReadBytesAsync(BlobLayout.Summary(project), 1 << 20)))
        {
            var rows = doc.RootElement.GetProperty("reports").EnumerateArray().ToList();
            Assert.Equal(2, rows.Count);
            Assert.Equal(reports[1].Run, rows.Single(r => r.GetProperty("case").GetString() == "patient-008").GetProperty("latest").GetProperty("run").GetString());
        }

        // (6) a DICOM series dropped as a zip: its mask lies in the series' own geometry and the zip joins the
        // pool as it came; a series with a missing slice is quarantined with the reason, naming the file in the zip.
        DicomSeriesScript.Write(temp.File("series"), "--oblique", "--shuffle");
        ZipFile.CreateFromDirectory(temp.File("series"), temp.File("ct-042.zip"));
        await pipeline.Storage.UploadFileAsync(BlobLayout.IncomingScan(project, "ct-042.zip"), temp.File("ct-042.zip"));
        var dicomLatest = await pipeline.WaitForAsync(() => pipeline.Storage.ReadJsonAsync<LatestResult>(BlobLayout.LatestResult(project, "ct-042")),
            TimeSpan.FromMinutes(2), "the DICOM scan's result");
        var dicomReport = (await pipeline.Storage.ReadJsonAsync<ScanReport>(dicomLatest.Report))!;
        Assert.Equal(BlobLayout.IncomingScan(project, "ct-042.zip"), dicomReport.Scan.Path);
        Assert.Equal(Md5(temp.File("ct-042.zip")), dicomReport.Scan.Md5);
        await pipeline.Storage.DownloadFileAsync(dicomReport.Mask, temp.File("ct-042-mask.nii.gz"));
        var dicomMask = NiftiReader.Read(temp.File("ct-042-mask.nii.gz"));
        var series = DicomSeriesReader.Read(temp.File("ct-042.zip")).Volume;
        Assert.True(dicomMask.SameGrid(series));
        Assert.True(dicomMask.Affine.ApproximatelyEquals(series.Affine, 1e-4));
        Assert.Equal(dicomLatest.ResultPrefix + "ct-042.seg.dcm", dicomReport.Seg);
        await pipeline.Storage.DownloadFileAsync(dicomReport.Seg!, temp.File("ct-042.seg.dcm"));
        Assert.Empty(DicomChecks.Dciodvfy(temp.File("ct-042.seg.dcm")).Errors);
        Assert.Null(report.Seg);
        run = await pipeline.WaitForRunAsync(dicomLatest.Run, TimeSpan.FromMinutes(1));
        Assert.True(run.GetProperty("state").GetString() == "Completed", run.ToString());
        Assert.True(await pipeline.Storage.ExistsAsync(BlobLayout.TrainingImage(project, "ct-042", ".zip")));

        DicomSeriesScript.Write(temp.File("gappy"), "--gap");
        ZipFile.CreateFromDirectory(temp.File("gappy"), temp.File("ct-043.zip"));
        await pipeline.Storage.UploadFileAsync(BlobLayout.IncomingScan(project, "ct-043.zip"), temp.File("ct-043.zip"));
        string gappyKey = Md5(temp.File("ct-043.zip"))[..16];
        string gappyReason = Quarantine.RecordPath("scans/" + project, "ct-043", gappyKey);
        var quarantined = await pipeline.WaitForAsync(async () => await pipeline.Storage.ExistsAsync(gappyReason) ? await pipeline.Storage.ReadBytesAsync(gappyReason, 1 << 16) : null,
            TimeSpan.FromMinutes(1), "the broken series' quarantine");
        string because = JsonDocument.Parse(quarantined).RootElement.GetProperty("reason").GetString()!;
        Assert.Contains($"incoming/{project}/ct-043.zip", because);
        Assert.Contains("non-uniform slice spacing: 5 mm between", because);

        // (3) the schedule with new cases (the dropped scans): one retraining run, which can be cancelled.
        retrain = await pipeline.Http.PostAsJsonAsync("api/retrain", new { });
        var started = JsonDocument.Parse(await retrain.Content.ReadAsStringAsync()).RootElement.GetProperty("started");
        Assert.Equal(1, started.GetArrayLength());
        string scheduled = started[0].GetString()!;
        Assert.StartsWith(RunIds.TrainingPrefix(project), scheduled);
        var cancel = await pipeline.Http.PostAsJsonAsync($"api/runs/{scheduled}/cancel", new { });
        Assert.Equal(System.Net.HttpStatusCode.Accepted, cancel.StatusCode);
        run = await pipeline.WaitForRunAsync(scheduled, TimeSpan.FromMinutes(1));
        Assert.Equal("Terminated", run.GetProperty("state").GetString());
    }

    private static async Task<List<string>> QueueNamesAsync(string connectionString)
    {
        var names = new List<string>();
        await foreach (var queue in new QueueServiceClient(connectionString).GetQueuesAsync()) names.Add(queue.Name);
        return names;
    }

    private static string Md5(string file) => Convert.ToHexString(System.Security.Cryptography.MD5.HashData(File.ReadAllBytes(file))).ToLowerInvariant();
}
