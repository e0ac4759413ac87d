using System.Text.Json;
using GuidedNet.Imaging.Nifti;
using GuidedNet.Pipeline.Contracts;
using GuidedNet.Pipeline.Datasets;
using GuidedNet.Pipeline.Jobs;
using GuidedNet.Pipeline.Options;
using GuidedNet.Pipeline.Orchestrations;
using GuidedNet.Pipeline.Storage;
using GuidedNet.Pipeline.Tests.Infrastructure;
using Microsoft.DurableTask.Client;

namespace GuidedNet.Pipeline.Tests;

/// <summary>
/// The orchestrations, API and schedulers on the in-memory durable host with Azurite storage and
/// in-process workers: one active training run per dataset, cancel that always reaches the job,
/// retry by dropping again, two drops of one case while the first still runs, and retraining that
/// sees changed cases. Races are staged with gates in the fake runner, not with sleeps.
/// </summary>
public sealed class OrchestrationTests(Azurite azurite) : IClassFixture<Azurite>
{
    private static JsonElement Body(Api.ApiResult result) => JsonSerializer.SerializeToElement(result.Body, PipelineStorage.Json);

    private static async Task WriteProductionAsync(InProcessPipeline p, string project) =>
        await p.Storage.WriteJsonAsync(BlobLayout.Production(project), new ProductionModel(project, "v0", $"models/{project}/v0/model.guidednet", 0.5,
            $"datasets/{project}/manifests/v0.json", DateTime.UtcNow, new TrainRequest()));

    [Fact]
    public async Task Six_concurrent_training_requests_start_one_run_and_the_others_are_told_which()
    {
        await using var p = await InProcessPipeline.StartAsync(azurite);
        string dataset = InProcessPipeline.UniqueName("six");
        await p.UploadDatasetAsync(dataset);

        var answers = await Task.WhenAll(Enumerable.Range(0, 6).Select(i => p.Api.StartTrainingAsync(dataset, $"{{\"iterations\": {10 + i}}}")));
        var accepted = Assert.Single(answers, a => a.StatusCode == 202);
        string run = Body(accepted).GetProperty("id").GetString()!;
        Assert.StartsWith(RunIds.TrainingPrefix(dataset), run);
        foreach (var refused in answers.Where(a => a.StatusCode != 202))
        {
            Assert.Equal(409, refused.StatusCode);
            Assert.Equal(run, Body(refused).GetProperty("activeRun").GetString());
            Assert.Contains(run, Body(refused).GetProperty("error").GetString());
        }

        Assert.Equal(202, (await p.Api.CancelRunAsync(run)).StatusCode);
        Assert.Equal(OrchestrationRuntimeStatus.Terminated, (await p.WaitForRunAsync(run)).RuntimeStatus);
        var next = await p.Api.StartTrainingAsync(dataset, "{}");
        Assert.Equal(202, next.StatusCode);
        Assert.NotEqual(run, Body(next).GetProperty("id").GetString());
        await p.Api.CancelRunAsync(Body(next).GetProperty("id").GetString()!);
    }

    [Fact]
    public async Task A_run_cancelled_right_after_its_job_was_dispatched_never_runs_the_job()
    {
        await using var p = await InProcessPipeline.StartAsync(azurite);
        string dataset = InProcessPipeline.UniqueName("orphan");
        await p.UploadDatasetAsync(dataset);
        string run = Body(await p.Api.StartTrainingAsync(dataset, "{}")).GetProperty("id").GetString()!;
        string jobId = JobIds.For(run, JobKind.Train);
        var delivery = await p.ReceiveAsync(TimeSpan.FromSeconds(30)); // dispatched: a worker has just taken the message

        Assert.Equal(202, (await p.Api.CancelRunAsync(run)).StatusCode);
        Assert.Equal(OrchestrationRuntimeStatus.Terminated, (await p.WaitForRunAsync(run)).RuntimeStatus);
        Assert.True(await p.Jobs.IsCancelRequestedAsync(jobId));
        Assert.False(await p.NewWorker("w1").HandleAsync(delivery, default));
        Assert.Equal(0, p.Runner.Runs);
        Assert.Equal(JobState.Cancelled, (await p.Jobs.ReadAsync(jobId))!.Value.State);
        Assert.Equal(409, (await p.Api.CancelRunAsync(run)).StatusCode);
    }

    [Fact]
    public async Task A_cancel_before_anything_was_dispatched_still_records_the_cancel_for_the_run_s_job()
    {
        await using var p = await InProcessPipeline.StartAsync(azurite);
        string dataset = InProcessPipeline.UniqueName("early");
        await p.UploadDatasetAsync(dataset);
        string run = Body(await p.Api.StartTrainingAsync(dataset, "{}")).GetProperty("id").GetString()!;
        var cancel = await p.Api.CancelRunAsync(run);
        Assert.Equal(202, cancel.StatusCode);
        Assert.Equal(JobIds.For(run, JobKind.Train), Body(cancel).GetProperty("job").GetString());
        Assert.True(await p.Jobs.IsCancelRequestedAsync(JobIds.For(run, JobKind.Train)));
        Assert.Equal(OrchestrationRuntimeStatus.Terminated, (await p.WaitForRunAsync(run)).RuntimeStatus);
    }

    [Fact]
    public async Task A_scan_whose_run_failed_runs_again_when_dropped_again_but_not_when_the_same_drop_is_seen_again()
    {
        await using var p = await InProcessPipeline.StartAsync(azurite);
        p.StartWorker("w1");
        string project = InProcessPipeline.UniqueName("retry");
        string path = BlobLayout.IncomingScan(project, "x.nii.gz");
        var dropped = await p.UploadScanAsync(path, seed: 3);
        var zone = p.NewDropZone(project);
        string run = (await zone.StartAsync((await p.Storage.GetAsync(path))!))!;
        var failed = await p.WaitForRunAsync(run);
        Assert.Equal(OrchestrationRuntimeStatus.Failed, failed.RuntimeStatus);
        Assert.Contains("has no production model", failed.FailureDetails!.ErrorMessage);
        Assert.Null(await zone.StartAsync((await p.Storage.GetAsync(path))!));      // the same drop, seen again
        Assert.Null(await p.NewDropZone(project).StartAsync((await p.Storage.GetAsync(path))!)); // also after a restart of the poller

        await WriteProductionAsync(p, project);
        await p.Storage.Blob(path).UploadAsync(p.Storage.Blob(path).DownloadContent().Value.Content, overwrite: true); // dropped again: same bytes, new version
        Assert.Equal(run, await zone.StartAsync((await p.Storage.GetAsync(path))!));
        var done = await p.WaitForRunAsync(run);
        Assert.Equal(OrchestrationRuntimeStatus.Completed, done.RuntimeStatus);
        var result = done.ReadOutputAs<ScanRunResult>()!;
        Assert.Equal(ScanRunStates.Segmented, result.State);
        var report = (await p.Storage.ReadJsonAsync<ScanReport>(BlobLayout.Report(result.ResultPrefix!)))!;
        Assert.Equal(dropped.Md5, report.Scan.Md5);
        Assert.Equal(run, (await p.Storage.ReadJsonAsync<LatestResult>(BlobLayout.LatestResult(project, "x")))!.Run);
    }

    [Fact]
    public async Task A_poll_lists_one_page_of_the_drop_zone_and_the_next_goes_on_from_there_so_every_drop_is_seen_within_one_pass()
    {
        await using var p = await InProcessPipeline.StartAsync(azurite);
        string project = InProcessPipeline.UniqueName("paged");
        var dropped = new Dictionary<string, BlobPin>();
        foreach (string caseName in new[] { "case-0", "case-1", "case-2", "case-3", "case-4" })
            dropped[caseName] = await p.UploadScanAsync(BlobLayout.IncomingScan(project, caseName + ".nii.gz"), seed: dropped.Count);
        var zone = p.NewDropZone(project, pollPageSize: 2);
        string Run(string caseName) => RunIds.ScanRun(project, caseName, dropped[caseName]);

        // Three polls of at most two blobs each cover the five drops, in name order; the fourth starts over and finds nothing new.
        Assert.Equal(new[] { Run("case-0"), Run("case-1") }, await zone.PollAsync());
        Assert.Equal(new[] { Run("case-2"), Run("case-3") }, await zone.PollAsync());
        Assert.Equal(new[] { Run("case-4") }, await zone.PollAsync());
        Assert.Empty(await zone.PollAsync());
        // A drop behind the cursor (its name sorts first) is seen when the pass comes round to it, within one pass.
        dropped["case-00"] = await p.UploadScanAsync(BlobLayout.IncomingScan(project, "case-00.nii.gz"), seed: 9);
        var found = new List<string>();
        for (int poll = 0; poll < 3; poll++) found.AddRange(await zone.PollAsync());
        Assert.Equal(new[] { Run("case-00") }, found);
        // The page size is bounded by the blob service's own limit.
        Assert.Contains("DropZonePageSize", Assert.Throws<ArgumentException>(() => new ScheduleOptions { DropZonePageSize = 5001 }.Validate()).Message);
        new ScheduleOptions { DropZonePageSize = 5000 }.Validate();
    }

    [Fact]
    public async Task The_same_case_dropped_twice_while_the_first_run_goes_gives_two_results_and_the_newest_drop_is_latest()
    {
        await using var p = await InProcessPipeline.StartAsync(azurite);
        string project = InProcessPipeline.UniqueName("twice");
        await WriteProductionAsync(p, project);
        string path = BlobLayout.IncomingScan(project, "x.nii.gz");
        string? firstRun = null;
        var (firstStarted, releaseFirst) = p.Runner.HoldRuns(attempt => attempt.Message.Predict!.Run == firstRun);
        p.StartWorker("w1");
        p.StartWorker("w2");
        var zone = p.NewDropZone(project);

        var first = await p.UploadScanAsync(path, seed: 21);
        firstRun = await zone.StartAsync((await p.Storage.GetAsync(path))!);
        await firstStarted.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var second = await p.UploadScanAsync(path, seed: 22);          // the same name, other content, while the first run is going
        string secondRun = (await zone.StartAsync((await p.Storage.GetAsync(path))!))!;
        Assert.NotEqual(firstRun, secondRun);
        Assert.Equal(OrchestrationRuntimeStatus.Completed, (await p.WaitForRunAsync(secondRun)).RuntimeStatus); // the second finishes first
        releaseFirst.SetResult();
        Assert.Equal(OrchestrationRuntimeStatus.Completed, (await p.WaitForRunAsync(firstRun!)).RuntimeStatus);

        var folders = (await p.Storage.ListFoldersAsync(BlobLayout.CaseResults(project, "x"))).ToHashSet();
        Assert.Equal(new HashSet<string> { RunIds.ContentKey(first), RunIds.ContentKey(second) }, folders);
        foreach (var (run, dropped) in new[] { (firstRun!, first), (secondRun, second) })
        {
            var report = (await p.Storage.ReadJsonAsync<ScanReport>(BlobLayout.Report(BlobLayout.ResultPrefix(project, "x", RunIds.LastPart(run)))))!;
            Assert.Equal(run, report.Run);
            Assert.Equal(dropped.Md5, report.Scan.Md5);
            Assert.Equal(dropped.ETag, report.Scan.ETag);
            Assert.NotNull(report.Scan.Snapshot);
            Assert.Equal(report.MaskMd5, (await p.Storage.GetAsync(report.Mask))!.Md5);
            Assert.StartsWith(BlobLayout.ResultPrefix(project, "x", RunIds.LastPart(run)), report.Mask);
        }
        Assert.Equal(secondRun, (await p.Storage.ReadJsonAsync<LatestResult>(BlobLayout.LatestResult(project, "x")))!.Run);
        using var summary = JsonDocument.Parse(await p.Storage.ReadBytesAsync(BlobLayout.Summary(project), 1 << 20));
        var row = Assert.Single(summary.RootElement.GetProperty("reports").EnumerateArray());
        Assert.Equal(secondRun, row.GetProperty("latest").GetProperty("run").GetString());
    }

    [Fact]
    public async Task A_training_run_pins_its_cases_commits_one_model_and_the_schedule_retrains_only_after_a_change()
    {
        await using var p = await InProcessPipeline.StartAsync(azurite);
        p.StartWorker("w1");
        string dataset = InProcessPipeline.UniqueName("train");
        await p.UploadDatasetAsync(dataset, cases: 4, labeled: 2);
        string run = Body(await p.Api.StartTrainingAsync(dataset, "{}")).GetProperty("id").GetString()!;
        var done = await p.WaitForRunAsync(run);
        Assert.Equal(OrchestrationRuntimeStatus.Completed, done.RuntimeStatus);
        var result = done.ReadOutputAs<TrainRunResult>()!;
        Assert.True(result.Promoted);
        Assert.Equal(4, result.Cases);
        var production = (await p.Storage.ReadJsonAsync<ProductionModel>(BlobLayout.Production(dataset)))!;
        Assert.Equal(result.Version, production.Version);
        Assert.True(await p.Storage.ExistsAsync(production.ModelPath));
        var manifest = (await p.Storage.ReadJsonAsync<DatasetManifest>(production.ManifestPath))!;
        Assert.All(manifest.Cases, c => Assert.False(string.IsNullOrEmpty(c.Image.ETag)));
        Assert.Equal(2, manifest.Cases.Count(c => c.Label is not null));

        Assert.Empty(await p.Planner.RunAsync());
        await p.UploadScanAsync(BlobLayout.DatasetPrefix(dataset) + "imagesTr/phantom_003_0000.nii.gz", seed: 99); // an edited case: same name, new bytes
        var stale = Assert.Single(await p.Planner.FindStaleAsync(), s => s.Dataset == dataset);
        Assert.Equal(new[] { "changed image of phantom_003" }, stale.Changes);
        p.Runner.Behavior = async (_, ct) =>
        {
            await Task.Delay(Timeout.Infinite, ct);
            return false;
        };
        string retrain = Assert.Single(await p.Planner.RunAsync(), r => r.StartsWith(RunIds.TrainingPrefix(dataset), StringComparison.Ordinal));
        Assert.DoesNotContain(await p.Planner.RunAsync(), r => r.StartsWith(RunIds.TrainingPrefix(dataset), StringComparison.Ordinal)); // still active: skipped
        await p.Api.CancelRunAsync(retrain);
    }

    [Fact]
    public async Task A_capped_pool_trains_the_newest_unlabeled_cases_and_a_project_can_keep_its_drops_out()
    {
        await using var p = await InProcessPipeline.StartAsync(azurite);
        p.StartWorker("w1");
        string dataset = InProcessPipeline.UniqueName("pool");
        string images = BlobLayout.DatasetPrefix(dataset) + "imagesTr/";
        await p.UploadDatasetAsync(dataset, cases: 5, labeled: 2); // labeled: phantom_000, _001; unlabeled: _002, _003, _004
        // phantom_002 becomes the newest unlabeled case: uploaded again until the service's clock (one-second
        // resolution in listings) puts it after every other image.
        string newest = images + "phantom_002_0000.nii.gz";
        var others = (await p.Storage.ListAsync(images)).Where(b => b.Path != newest).Max(b => b.LastModified);
        while ((await p.Storage.GetAsync(newest))!.LastModified <= others)
        {
            await Task.Delay(100);
            await p.UploadScanAsync(newest, seed: 7);
        }

        string run = Body(await p.Api.StartTrainingAsync(dataset, """{"maxUnlabeled": 1}""")).GetProperty("id").GetString()!;
        Assert.Equal(OrchestrationRuntimeStatus.Completed, (await p.WaitForRunAsync(run)).RuntimeStatus);
        var production = (await p.Storage.ReadJsonAsync<ProductionModel>(BlobLayout.Production(dataset)))!;
        var manifest = (await p.Storage.ReadJsonAsync<DatasetManifest>(production.ManifestPath))!;
        Assert.Equal(new[] { "phantom_000", "phantom_001", "phantom_002" }, manifest.Cases.Select(c => c.Name));
        Assert.Equal(new[] { "phantom_003", "phantom_004" }, manifest.OutsidePool);
        // Cases the policy left out are known, not new: nothing to retrain for; a label for one of them is new.
        Assert.DoesNotContain(await p.Planner.FindStaleAsync(), s => s.Dataset == dataset);
        var label = await p.Storage.ReadBytesAsync(BlobLayout.DatasetPrefix(dataset) + "labelsTr/phantom_000.nii.gz", 1 << 20);
        await p.Storage.WriteBytesAsync(BlobLayout.DatasetPrefix(dataset) + "labelsTr/phantom_004.nii.gz", label);
        Assert.Equal(new[] { "new case phantom_004" }, Assert.Single(await p.Planner.FindStaleAsync(), s => s.Dataset == dataset).Changes);

        // Segmented drops join the pool unless the project says otherwise.
        var zone = p.NewDropZone(dataset);
        p.Pool.Projects[dataset] = new ProjectPoolOptions { JoinDroppedScans = false };
        await p.UploadScanAsync(BlobLayout.IncomingScan(dataset, "kept-out.nii.gz"), seed: 31);
        string first = (await zone.StartAsync((await p.Storage.GetAsync(BlobLayout.IncomingScan(dataset, "kept-out.nii.gz")))!))!;
        Assert.Equal(OrchestrationRuntimeStatus.Completed, (await p.WaitForRunAsync(first)).RuntimeStatus);
        p.Pool.Projects[dataset] = new ProjectPoolOptions { JoinDroppedScans = true };
        await p.UploadScanAsync(BlobLayout.IncomingScan(dataset, "joins.nii.gz"), seed: 32);
        string second = (await zone.StartAsync((await p.Storage.GetAsync(BlobLayout.IncomingScan(dataset, "joins.nii.gz")))!))!;
        Assert.Equal(OrchestrationRuntimeStatus.Completed, (await p.WaitForRunAsync(second)).RuntimeStatus);
        var pool = (await p.Storage.ListAsync(images)).Select(b => b.Path).ToList();
        Assert.Contains(BlobLayout.TrainingImage(dataset, "joins"), pool);
        Assert.DoesNotContain(pool, path => path.Contains("kept-out", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_reviewed_label_for_a_pooled_scan_joins_labelsTr_with_its_provenance_and_the_next_retrain_sees_the_case_as_labeled()
    {
        await using var p = await InProcessPipeline.StartAsync(azurite);
        p.StartWorker("w1");
        string dataset = InProcessPipeline.UniqueName("review");
        await p.UploadDatasetAsync(dataset, cases: 3, labeled: 2);
        string first = Body(await p.Api.StartTrainingAsync(dataset, "{}")).GetProperty("id").GetString()!;
        Assert.Equal(OrchestrationRuntimeStatus.Completed, (await p.WaitForRunAsync(first)).RuntimeStatus);
        string firstManifest = (await p.Storage.ReadJsonAsync<ProductionModel>(BlobLayout.Production(dataset)))!.ManifestPath;

        // Drop a scan: it is segmented and joins the pool unlabeled.
        var zone = p.NewDropZone(dataset);
        await p.UploadScanAsync(BlobLayout.IncomingScan(dataset, "pt-1.nii.gz"), seed: 41);
        string run = (await zone.StartAsync((await p.Storage.GetAsync(BlobLayout.IncomingScan(dataset, "pt-1.nii.gz")))!))!;
        Assert.Equal(OrchestrationRuntimeStatus.Completed, (await p.WaitForRunAsync(run)).RuntimeStatus);
        Assert.True(await p.Storage.ExistsAsync(BlobLayout.TrainingImage(dataset, "pt-1")));
        Assert.False(await p.Storage.ExistsAsync(BlobLayout.TrainingLabel(dataset, "pt-1")));

        // Its corrected label, dropped: validated against the pooled scan and joined, with where it came from.
        var (_, label) = new Imaging.Synthetic.PhantomGenerator(new Imaging.Synthetic.PhantomOptions { Classes = 3, Size = (24, 24, 12) }).Generate(41);
        using var temp = new Storage.TempFolder();
        NiftiWriter.Write(temp.File("pt-1.nii.gz"), label, NiftiDataType.UInt8);
        var dropped = await p.Storage.UploadFileAsync(BlobLayout.ScanLabel(dataset, "pt-1"), temp.File("pt-1.nii.gz"));
        await zone.PollAsync();
        Assert.True(await p.Storage.ExistsAsync(BlobLayout.TrainingLabel(dataset, "pt-1")));
        var provenance = (await p.Storage.ReadJsonAsync<LabelProvenance>(BlobLayout.LabelProvenance(dataset, "pt-1")))!;
        Assert.Equal(dropped.Md5, provenance.Label.Md5);
        Assert.Equal(BlobLayout.TrainingImage(dataset, "pt-1"), provenance.Image.Path);
        // Seen again (a second trigger, a later poll): the same join, the first record kept.
        var reviewedLabels = new ReviewedLabels(p.Storage, p.Clock);
        Assert.Equal(ReviewedLabelOutcome.Joined, (await reviewedLabels.JoinAsync((await p.Storage.GetAsync(dropped.Path))!)).State);
        Assert.Equal(provenance.JoinedUtc, (await p.Storage.ReadJsonAsync<LabelProvenance>(BlobLayout.LabelProvenance(dataset, "pt-1")))!.JoinedUtc);
        // A try that stopped after the copy, before its record: the next one finishes it.
        Assert.True(await p.Storage.DeleteIfUnchangedAsync((await p.Storage.GetAsync(BlobLayout.LabelProvenance(dataset, "pt-1")))!.Pin()));
        Assert.Equal(ReviewedLabelOutcome.Joined, (await reviewedLabels.JoinAsync((await p.Storage.GetAsync(dropped.Path))!)).State);
        Assert.Equal(dropped.Md5, (await p.Storage.ReadJsonAsync<LabelProvenance>(BlobLayout.LabelProvenance(dataset, "pt-1")))!.Label.Md5);
        // Other bytes for a case the dataset labels already: its label stays.
        await p.Storage.UploadFileAsync(BlobLayout.ScanLabel(dataset, "phantom_000"), temp.File("pt-1.nii.gz"));
        Assert.Equal(ReviewedLabelOutcome.AlreadyLabeled, (await reviewedLabels.JoinAsync((await p.Storage.GetAsync(BlobLayout.ScanLabel(dataset, "phantom_000")))!)).State);

        // A label that does not fit its scan is quarantined with the reason; one without a scan waits for it.
        NiftiWriter.Write(temp.File("wrong.nii.gz"), new Imaging.Volume(24, 24, 10, new float[24 * 24 * 10], Imaging.Geometry.Affine.Scaling(1, 1, 1)), NiftiDataType.UInt8);
        await p.UploadScanAsync(BlobLayout.TrainingImage(dataset, "pt-2"), seed: 42);
        var wrong = await p.Storage.UploadFileAsync(BlobLayout.ScanLabel(dataset, "pt-2"), temp.File("wrong.nii.gz"));
        var refused = await new ReviewedLabels(p.Storage, p.Clock).JoinAsync((await p.Storage.GetAsync(wrong.Path))!);
        Assert.Equal(ReviewedLabelOutcome.Quarantined, refused.State);
        Assert.Contains("24x24x10", refused.Detail);
        Assert.False(await p.Storage.ExistsAsync(wrong.Path));
        Assert.False(await p.Storage.ExistsAsync(BlobLayout.TrainingLabel(dataset, "pt-2")));
        var early = await p.Storage.UploadFileAsync(BlobLayout.ScanLabel(dataset, "pt-3"), temp.File("pt-1.nii.gz"));
        Assert.Equal(ReviewedLabelOutcome.WaitingForScan, (await new ReviewedLabels(p.Storage, p.Clock).JoinAsync((await p.Storage.GetAsync(early.Path))!)).State);

        // The next retrain: the manifest lists the reviewed case as labeled.
        string retrain = Assert.Single(await p.Planner.RunAsync(), r => r.StartsWith(RunIds.TrainingPrefix(dataset), StringComparison.Ordinal));
        Assert.Equal(OrchestrationRuntimeStatus.Completed, (await p.WaitForRunAsync(retrain)).RuntimeStatus);
        var manifests = await p.Storage.ListAsync(BlobLayout.DatasetPrefix(dataset) + "manifests/");
        var newest = (await p.Storage.ReadJsonAsync<DatasetManifest>(Assert.Single(manifests, m => m.Path != firstManifest).Path))!;
        var reviewed = Assert.Single(newest.Cases, c => c.Name == "pt-1");
        Assert.NotNull(reviewed.Label);
        Assert.Equal(dropped.Md5, reviewed.Label!.Md5);
    }

    [Fact]
    public void The_pool_policy_comes_from_the_project_then_the_request_and_is_bounded()
    {
        var options = new PoolOptions { Projects = { ["small"] = new ProjectPoolOptions { MaxUnlabeledCases = 5, Keep = PoolOrder.Oldest } } };
        Assert.Equal(new PoolPolicy(true, 1000, PoolOrder.Newest), options.For("other"));
        Assert.Equal(new PoolPolicy(true, 5, PoolOrder.Oldest), options.For("small"));
        Assert.Equal(new PoolPolicy(true, 2, PoolOrder.Newest), options.For("small", new TrainRequest { MaxUnlabeled = 2, KeepUnlabeled = "newest" }));
        Assert.Equal("maxUnlabeled", Assert.Throws<Training.TrainingSettingException>(() => new TrainRequest { MaxUnlabeled = -1 }.Validate()).Field);
        Assert.Equal("keepUnlabeled", Assert.Throws<Training.TrainingSettingException>(() => new TrainRequest { KeepUnlabeled = "random" }.Validate()).Field);
        Assert.Throws<ArgumentException>(() => new PoolOptions { MaxUnlabeledCases = PoolPolicy.Limit + 1 }.Validate());

        var t0 = DateTimeOffset.UnixEpoch;
        CaseFiles Case(string name, int minute, bool labeled = false) =>
            new(name, [new BlobPin(name + ".nii.gz", "e")], labeled ? [new BlobPin(name + "_l.nii.gz", "e")] : [], t0.AddMinutes(minute));
        var cases = new[] { Case("a", 1, labeled: true), Case("b", 5), Case("c", 9), Case("d", 3), Case("e", 9) };
        var (kept, left) = new PoolPolicy(true, 2, PoolOrder.Newest).Select(cases);
        Assert.Equal(new[] { "a", "c", "e" }, kept.Select(c => c.Name));
        Assert.Equal(new[] { "b", "d" }, left);
        (kept, left) = new PoolPolicy(true, 1, PoolOrder.Oldest).Select(cases);
        Assert.Equal(new[] { "a", "d" }, kept.Select(c => c.Name));
        Assert.Equal(new[] { "b", "c", "e" }, left);
    }
}
