using Azure.Storage.Blobs.Models;
using GuidedNet.Pipeline.Activities;
using GuidedNet.Pipeline.Contracts;
using GuidedNet.Pipeline.Datasets;
using GuidedNet.Pipeline.Jobs;
using GuidedNet.Pipeline.Orchestrations;
using GuidedNet.Pipeline.Results;
using GuidedNet.Pipeline.Storage;
using GuidedNet.Pipeline.Tests.Infrastructure;

namespace GuidedNet.Pipeline.Tests;

/// <summary>
/// Results pinned to the bytes they came from, on Azurite: pinned reads, snapshots of dropped
/// scans, per-run quarantine that deletes only unchanged sources, total and idempotent validation,
/// conditional production and latest.json, content-pinned manifests and retraining on changed
/// cases, and run ids that cannot collide.
/// </summary>
public sealed class IntegrityTests(Azurite azurite) : IClassFixture<Azurite>
{
    private static readonly string[] NoFiles = Array.Empty<string>();

    [Fact]
    public async Task A_pinned_read_returns_the_pinned_bytes_or_says_what_changed()
    {
        await using var p = await InProcessPipeline.StartAsync(azurite, durable: false);
        string path = $"scans/incoming/{InProcessPipeline.UniqueName("pin")}/x.nii.gz";
        var first = await p.UploadScanAsync(path, seed: 1);
        using var temp = new TempFolder();
        Assert.Equal(first.Md5, await p.Storage.DownloadPinnedAsync(first, temp.File("a"), "it was dropped"));

        var snapshot = await p.Storage.SnapshotAsync(first, "it was dropped");
        Assert.Equal(snapshot, await p.Storage.SnapshotAsync(first, "it was dropped")); // idempotent: the snapshot of that version is reused
        await p.UploadScanAsync(path, seed: 2); // the same name dropped again with other content
        var changed = await Assert.ThrowsAsync<PinnedBlobChangedException>(() => p.Storage.DownloadPinnedAsync(first, temp.File("b"), "it was dropped"));
        Assert.Contains(path, changed.Message);
        Assert.Contains("changed since it was dropped", changed.Message);
        Assert.Equal(first.Md5, await p.Storage.DownloadPinnedAsync(snapshot, temp.File("c"), "it was dropped")); // the snapshot still holds the first bytes
        Assert.Equal(snapshot, await p.Storage.SnapshotAsync(first, "it was dropped")); // and is found again for that version
        // A version replaced before it was pinned cannot be pinned any more.
        var second = (await p.Storage.GetAsync(path))!.Pin();
        await p.UploadScanAsync(path, seed: 3);
        Assert.Contains("changed or was removed since it was dropped", (await Assert.ThrowsAsync<PinnedBlobChangedException>(() => p.Storage.SnapshotAsync(second, "it was dropped"))).Message);

        // The same bytes uploaded again (new ETag, same MD5) are still the pinned content.
        await p.Storage.Blob(path).UploadAsync(new BinaryData(await File.ReadAllBytesAsync(temp.File("a"))), overwrite: true);
        Assert.Equal(first.Md5, await p.Storage.DownloadPinnedAsync(first, temp.File("d"), "it was dropped"));
        await p.Storage.Blob(path).DeleteAsync(DeleteSnapshotsOption.IncludeSnapshots);
        Assert.Contains("was removed", (await Assert.ThrowsAsync<PinnedBlobChangedException>(() => p.Storage.DownloadPinnedAsync(first, temp.File("e"), "it was dropped"))).Message);
    }

    [Fact]
    public async Task A_small_blob_is_read_with_the_pin_of_those_bytes_within_its_size_limit()
    {
        await using var p = await InProcessPipeline.StartAsync(azurite, durable: false);
        string path = $"datasets/{InProcessPipeline.UniqueName("read")}/dataset.json";
        byte[] bytes = System.Text.Encoding.UTF8.GetBytes("""{"labels":{"background":0,"organ":1}}""");
        await p.Storage.WriteBytesAsync(path, bytes, "application/json");
        var entry = (await p.Storage.GetAsync(path))!;

        var content = (await p.Storage.ReadContentAsync(path, bytes.Length))!;
        Assert.Equal(bytes, content.Bytes);
        Assert.Equal(entry.Pin(), content.Pin);
        Assert.Equal(Convert.ToHexString(System.Security.Cryptography.MD5.HashData(bytes)).ToLowerInvariant(), content.Pin.Md5);
        Assert.Contains($"{bytes.Length} bytes, more than the {bytes.Length - 1} allowed",
            (await Assert.ThrowsAsync<InvalidDataException>(() => p.Storage.ReadContentAsync(path, bytes.Length - 1))).Message);
        Assert.Null(await p.Storage.ReadContentAsync(path + ".missing", 1 << 10));
        Assert.Contains(path + ".missing", (await Assert.ThrowsAsync<FileNotFoundException>(() => p.Storage.ReadBytesAsync(path + ".missing", 1 << 10))).Message);
    }

    [Fact]
    public async Task Quarantine_keeps_every_run_s_copy_and_removes_a_source_only_while_it_holds_the_checked_bytes()
    {
        await using var p = await InProcessPipeline.StartAsync(azurite, durable: false);
        string project = InProcessPipeline.UniqueName("q");
        string path = $"scans/incoming/{project}/x.nii.gz";
        var first = await p.UploadScanAsync(path, seed: 1);
        var record = await Quarantine.MoveAsync(p.Storage, "scans/" + project, "x", "run-a", new[] { (first, "x.nii.gz") }, "bad", DateTime.UtcNow);
        Assert.Equal(new[] { path }, record.Files);
        Assert.False(await p.Storage.ExistsAsync(path));
        // A retry of the same run finds its record (the source is gone by then) and changes nothing.
        var retried = await Quarantine.MoveAsync(p.Storage, "scans/" + project, "x", "run-a", new[] { (first, "x.nii.gz") }, "bad", DateTime.UtcNow);
        Assert.Equal(record.Files, retried.Files);
        Assert.Equal(record.QuarantinedUtc, retried.QuarantinedUtc);

        var second = await p.UploadScanAsync(path, seed: 2);
        await Quarantine.MoveAsync(p.Storage, "scans/" + project, "x", "run-b", new[] { (second, "x.nii.gz") }, "bad again", DateTime.UtcNow);
        Assert.Equal(first.Md5, (await p.Storage.GetAsync(BlobLayout.QuarantinePrefix("scans/" + project, "x", "run-a") + "x.nii.gz"))!.Md5);
        Assert.Equal(second.Md5, (await p.Storage.GetAsync(BlobLayout.QuarantinePrefix("scans/" + project, "x", "run-b") + "x.nii.gz"))!.Md5);

        // Checked, then replaced before the move: the bad bytes are kept in the quarantine, the new ones stay in place.
        var checkedVersion = await p.UploadScanAsync(path, seed: 3);
        var snapshot = await p.Storage.SnapshotAsync(checkedVersion, "it was dropped");
        var replaced = await p.UploadScanAsync(path, seed: 4);
        var kept = await Quarantine.MoveAsync(p.Storage, "scans/" + project, "x", "run-c", new[] { (snapshot, "x.nii.gz") }, "bad", DateTime.UtcNow);
        Assert.Equal(NoFiles, kept.Files);
        Assert.Equal(new[] { path }, kept.Kept);
        Assert.Equal(replaced.Md5, (await p.Storage.GetAsync(path))!.Md5);
        Assert.Equal(checkedVersion.Md5, (await p.Storage.GetAsync(BlobLayout.QuarantinePrefix("scans/" + project, "x", "run-c") + "x.nii.gz"))!.Md5);

        // A move interrupted after the source was copied and deleted (the activity's process died):
        // the retry finds the pending record and finishes the move with the reason it recorded.
        var interrupted = (await p.Storage.GetAsync(path))!.Pin();
        string pending = Quarantine.RecordPath("scans/" + project, "x", "run-d");
        await p.Storage.TryWriteJsonAsync(pending, new QuarantineRecord("x", "the first try's reason", "run-d", [], [], DateTime.UtcNow, Complete: false), ifMatch: null);
        Assert.True(await p.Storage.TryCopyCreateOnlyAsync(interrupted, BlobLayout.QuarantinePrefix("scans/" + project, "x", "run-d") + "x.nii.gz"));
        Assert.True(await p.Storage.DeleteIfUnchangedAsync(interrupted));
        var finished = await Quarantine.MoveAsync(p.Storage, "scans/" + project, "x", "run-d", new[] { (interrupted, "x.nii.gz") }, "the retry's reason", DateTime.UtcNow);
        Assert.True(finished.Complete, finished.ToString());
        Assert.True(finished.Files.Count == 1, $"files [{string.Join(",", finished.Files)}] kept [{string.Join(",", finished.Kept)}]");
        Assert.Equal("the first try's reason", finished.Reason);
        Assert.Equal(new[] { path }, finished.Files);
        Assert.Equal(finished, await Quarantine.FindAsync(p.Storage, "scans/" + project, "x", "run-d") is { } stored ? stored with { Files = finished.Files, Kept = finished.Kept } : null);
    }

    [Fact]
    public async Task Validation_is_total_and_idempotent_duplicates_and_unreadable_cases_are_quarantined_and_changed_ones_skipped()
    {
        await using var p = await InProcessPipeline.StartAsync(azurite, durable: false);
        string dataset = InProcessPipeline.UniqueName("valid");
        await p.UploadDatasetAsync(dataset, cases: 4, labeled: 3);
        string prefix = BlobLayout.DatasetPrefix(dataset);
        // Two labels claim one case; two images claim another.
        await p.UploadScanAsync(prefix + "labelsTr/phantom_000.nii", seed: 9);
        await p.UploadScanAsync(prefix + "imagesTr/phantom_003.nii.gz", seed: 9);
        // A case whose stored MD5 does not match its bytes: its check throws (not a NIfTI error).
        var corrupt = p.Storage.Blob(prefix + "imagesTr/phantom_002_0000.nii.gz");
        var headers = (await corrupt.GetPropertiesAsync()).Value;
        await corrupt.SetHttpHeadersAsync(new BlobHttpHeaders { ContentType = headers.ContentType, ContentHash = new byte[16] });

        var listing = await new ListDatasetCasesActivity(p.Storage).RunAsync(null!, dataset);
        Assert.Equal(new[] { "phantom_000", "phantom_001", "phantom_002", "phantom_003" }, listing.Cases.Select(c => c.Name));
        Assert.Equal(2, listing.Cases[0].Labels.Count);
        // phantom_001 changes after it was listed: skipped and left in place, not quarantined.
        await p.UploadScanAsync(prefix + "imagesTr/phantom_001_0000.nii.gz", seed: 10);

        var activity = new ValidateCasesActivity(p.Storage, p.Clock);
        var input = new ValidateCasesInput(dataset, "v1", listing.NumClasses, listing.Cases);
        var checks = await activity.RunAsync(null!, input);
        var byName = checks.ToDictionary(c => c.Name);
        Assert.Equal(CaseOutcome.Quarantined, byName["phantom_000"].Outcome);
        Assert.Contains("duplicate case name 'phantom_000'", byName["phantom_000"].Reason);
        Assert.Contains("are all labels of it", byName["phantom_000"].Reason);
        Assert.Equal(CaseOutcome.Skipped, byName["phantom_001"].Outcome);
        Assert.Contains("changed since it was listed", byName["phantom_001"].Reason);
        Assert.True(await p.Storage.ExistsAsync(prefix + "imagesTr/phantom_001_0000.nii.gz"));
        Assert.Equal(CaseOutcome.Quarantined, byName["phantom_002"].Outcome);
        Assert.Contains("could not be checked: InvalidDataException", byName["phantom_002"].Reason);
        Assert.Equal(CaseOutcome.Quarantined, byName["phantom_003"].Outcome);
        Assert.Contains("are all images of it", byName["phantom_003"].Reason);
        foreach (string moved in new[] { "labelsTr/phantom_000.nii", "labelsTr/phantom_000.nii.gz", "imagesTr/phantom_000_0000.nii.gz" })
        {
            Assert.False(await p.Storage.ExistsAsync(prefix + moved), moved);
            Assert.True(await p.Storage.ExistsAsync(BlobLayout.QuarantinePrefix("datasets/" + dataset, "phantom_000", "v1") + moved), moved);
        }

        // The activity retried (its first result was lost): every case has the same outcome, nothing throws.
        var retried = await activity.RunAsync(null!, input);
        Assert.Equal(checks.Select(c => (c.Name, c.Outcome, c.Reason)), retried.Select(c => (c.Name, c.Outcome, c.Reason)));
    }

    [Fact]
    public async Task Racing_registrations_leave_the_better_model_in_production_and_the_other_a_candidate()
    {
        await using var p = await InProcessPipeline.StartAsync(azurite, durable: false);
        for (int round = 0; round < 6; round++)
        {
            string dataset = InProcessPipeline.UniqueName("promote");
            async Task<RegisterModelInput> Trained(string version, double dice)
            {
                string prefix = BlobLayout.ModelPrefix(dataset, version);
                await p.Storage.WriteJsonAsync(prefix + BlobLayout.MetricsFile, new ModelMetrics(version, dice, 10, 10, new(), 1));
                return new RegisterModelInput(dataset, version, prefix, $"datasets/{dataset}/manifests/{version}.json", new TrainRequest(), 0);
            }
            var worse = await Trained("v-worse", 0.6);
            var better = await Trained("v-better", 0.8);
            var register = new RegisterModelActivity(p.Storage, p.Clock);
            // Both at once, in either order of start.
            var results = round % 2 == 0
                ? await Task.WhenAll(register.RunAsync(null!, worse), register.RunAsync(null!, better))
                : (await Task.WhenAll(register.RunAsync(null!, better), register.RunAsync(null!, worse))).Reverse().ToArray();
            Assert.Equal("v-better", (await p.Storage.ReadJsonAsync<ProductionModel>(BlobLayout.Production(dataset)))!.Version);
            Assert.True(results[1].Promoted);
            var worseCard = (await p.Storage.ReadJsonAsync<ModelRegistration>(BlobLayout.ModelPrefix(dataset, "v-worse") + "registration.json"))!;
            if (worseCard.Promoted) Assert.Equal("first model of this dataset", worseCard.Decision); // promoted first, then replaced by the better one
            else Assert.Contains("does not beat production v-better", worseCard.Decision);
        }
    }

    [Fact]
    public async Task A_production_write_over_a_version_that_changed_is_refused()
    {
        await using var p = await InProcessPipeline.StartAsync(azurite, durable: false);
        string path = BlobLayout.Production(InProcessPipeline.UniqueName("cond"));
        var model = new ProductionModel("d", "v1", "models/d/v1/model.guidednet", 0.5, "m", DateTime.UtcNow, new TrainRequest());
        string? first = await p.Storage.TryWriteJsonAsync(path, model, ifMatch: null);
        Assert.NotNull(first);
        Assert.Null(await p.Storage.TryWriteJsonAsync(path, model with { Version = "v2" }, ifMatch: null)); // create-only: it exists
        Assert.NotNull(await p.Storage.TryWriteJsonAsync(path, model with { Version = "v3" }, first));
        Assert.Null(await p.Storage.TryWriteJsonAsync(path, model with { Version = "v4" }, first)); // over a version that changed
        Assert.Equal("v3", (await p.Storage.ReadJsonAsync<ProductionModel>(path))!.Version);
    }

    [Fact]
    public async Task The_newest_drop_is_the_latest_result_whichever_run_publishes_first()
    {
        await using var p = await InProcessPipeline.StartAsync(azurite, durable: false);
        var t = new DateTimeOffset(2026, 11, 29, 10, 0, 0, TimeSpan.Zero);
        LatestResult Result(string run, DateTimeOffset modified, DateTime observed) =>
            new(run, $"results/p/x/{run}/", $"results/p/x/{run}/report.json", new BlobPin("scans/incoming/p/x.nii.gz", "\"e\""), modified, observed, DateTime.UtcNow);
        var older = Result("r1", t, t.UtcDateTime);
        var newer = Result("r2", t.AddSeconds(1), t.UtcDateTime);
        var sameSecondLaterSeen = Result("r3", t.AddSeconds(1), t.UtcDateTime.AddMilliseconds(300));

        foreach (var order in new[] { new[] { older, newer }, new[] { newer, older } })
        {
            string project = InProcessPipeline.UniqueName("latest");
            foreach (var r in order) await CaseResults.AdvanceLatestAsync(p.Storage, project, "x", r);
            Assert.Equal("r2", (await p.Storage.ReadJsonAsync<LatestResult>(BlobLayout.LatestResult(project, "x")))!.Run);
        }
        string raced = InProcessPipeline.UniqueName("latest");
        var outcomes = await Task.WhenAll(new[] { older, sameSecondLaterSeen, newer }.Select(r => CaseResults.AdvanceLatestAsync(p.Storage, raced, "x", r)));
        Assert.Equal("r3", (await p.Storage.ReadJsonAsync<LatestResult>(BlobLayout.LatestResult(raced, "x")))!.Run);
        Assert.True(outcomes[1]);
    }

    [Fact]
    public async Task The_summary_takes_one_row_per_scan_without_reading_other_reports_and_keeps_every_row_of_scans_finishing_together()
    {
        await using var p = await InProcessPipeline.StartAsync(azurite, durable: false);
        string project = InProcessPipeline.UniqueName("summary");
        var t = new DateTime(2026, 11, 30, 10, 0, 0, DateTimeKind.Utc);
        SummaryRow Row(string caseName, string run, int second, double? dice, double liverMl) => new(caseName,
            new LatestResult(run, $"results/{project}/{caseName}/{run}/", $"results/{project}/{caseName}/{run}/report.json",
                new BlobPin($"scans/incoming/{project}/{caseName}.nii.gz", "\"e\"", Md5: run), new DateTimeOffset(t.AddSeconds(second)), t, t),
            "v1", dice, new() { ["liver"] = new(liverMl, dice) }, t);

        // Sixteen scans finishing at once (a barrier releases them together): every row is kept and the CSV matches the JSON.
        using var barrier = new Barrier(16);
        var updates = Enumerable.Range(0, 16).Select(i => Task.Run(async () =>
        {
            barrier.SignalAndWait();
            return await ProjectSummary.UpdateAsync(p.Storage, project, Row($"case{i:D2}", $"r{i}", 0, i % 2 == 0 ? 0.5 : null, i), t);
        })).ToList();
        await Task.WhenAll(updates);
        var summary = (await p.Storage.ReadJsonAsync<ProjectSummary>(BlobLayout.Summary(project)))!;
        Assert.Equal(16, summary.Cases);
        Assert.Equal(Enumerable.Range(0, 16).Select(i => $"case{i:D2}"), summary.Reports.Select(r => r.Case));
        Assert.Equal(0.5, summary.MeanDice);
        string csv = System.Text.Encoding.UTF8.GetString(await p.Storage.ReadBytesAsync(BlobLayout.SummaryCsv(project), 1 << 20));
        Assert.Equal(summary.ToCsv(), csv);
        Assert.Contains($"case03,r3,v1,,scans/incoming/{project}/case03.nii.gz,r3,3.00,", csv);

        // No report or latest.json exists for any of those rows: the next scan's update read none of them.
        Assert.Empty(await p.Storage.ListAsync($"{BlobLayout.Results}/{project}/case"));
        Assert.Equal(17, await ProjectSummary.UpdateAsync(p.Storage, project, Row("case16", "r16", 0, 0.9, 16), t));

        // An older drop of a case publishing after a newer one leaves the newer row; the newer one replaces it either way.
        Assert.Equal(17, await ProjectSummary.UpdateAsync(p.Storage, project, Row("case05", "r5-newer", 5, 0.7, 50), t));
        await ProjectSummary.UpdateAsync(p.Storage, project, Row("case05", "r5-older", 1, 0.1, 10), t);
        var row = (await p.Storage.ReadJsonAsync<ProjectSummary>(BlobLayout.Summary(project)))!.Reports.Single(r => r.Case == "case05");
        Assert.Equal("r5-newer", row.Latest.Run);
        Assert.Equal(50, row.Organs["liver"].VolumeMl);
    }

    [Fact]
    public async Task A_manifest_download_names_the_case_that_changed_since_validation_and_the_schedule_sees_changed_cases()
    {
        await using var p = await InProcessPipeline.StartAsync(azurite);
        string dataset = InProcessPipeline.UniqueName("pinned");
        await p.UploadDatasetAsync(dataset, cases: 3, labeled: 2);
        var listing = await new ListDatasetCasesActivity(p.Storage).RunAsync(null!, dataset);
        var checks = await new ValidateCasesActivity(p.Storage, p.Clock).RunAsync(null!, new ValidateCasesInput(dataset, "v1", listing.NumClasses, listing.Cases));
        var manifest = new DatasetManifest(dataset, "v1", DateTime.UtcNow, listing.NumClasses, listing.DatasetJson,
            checks.Select(c => c.Case!).ToList(), Array.Empty<CaseCheck>(), Array.Empty<CaseCheck>());
        Assert.All(manifest.Cases, c => Assert.NotNull(c.Image.Md5));
        var planner = p.Planner;
        Assert.Empty(await planner.ChangesSinceAsync(dataset, manifest));

        using (var temp = new TempFolder()) await ManifestFiles.DownloadAsync(p.Storage, manifest, temp.Root);
        string prefix = BlobLayout.DatasetPrefix(dataset);
        await p.UploadScanAsync(prefix + "imagesTr/phantom_001_0000.nii.gz", seed: 77); // edited after validation, same name
        await p.UploadScanAsync(prefix + "labelsTr/phantom_002.nii.gz", seed: 78);     // a label for an unlabeled case
        using (var temp = new TempFolder())
        {
            var error = await Assert.ThrowsAsync<PinnedBlobChangedException>(() => ManifestFiles.DownloadAsync(p.Storage, manifest, temp.Root));
            Assert.Contains("case 'phantom_001'", error.Message);
            Assert.Contains($"{prefix}imagesTr/phantom_001_0000.nii.gz changed since it was validated for v1", error.Message);
        }
        Assert.Equal(new[] { "changed image of phantom_001", "new label of phantom_002" }, await planner.ChangesSinceAsync(dataset, manifest));
    }

    [Fact]
    public void Run_ids_cannot_collide_across_name_boundaries_and_prefixes_are_exact()
    {
        var scan = new BlobPin("scans/incoming/a-b/c.nii.gz", "\"0x1\"", "0123456789abcdef0123456789abcdef");
        Assert.NotEqual(RunIds.ScanRun("a-b", "c", scan), RunIds.ScanRun("a", "b-c", scan));
        Assert.Equal("scan~a-b~c~0123456789abcdef", RunIds.ScanRun("a-b", "c", scan));
        Assert.Equal("scan~a~b~e1a2b", RunIds.ScanRun("a", "b", scan with { Md5 = null, ETag = "\"0x1A2B\"" }));
        Assert.False(RunIds.Training("a-v2", "v1").StartsWith(RunIds.TrainingPrefix("a"), StringComparison.Ordinal));
        Assert.StartsWith(RunIds.TrainingPrefix("a"), RunIds.Training("a", "v1"));
        Assert.False(RunIds.ScanRun("a", "bc", scan).StartsWith(RunIds.ScanPrefix("a", "b"), StringComparison.Ordinal));
        Assert.Throws<ArgumentException>(() => RunIds.Training("a~b", "v1"));
        Assert.NotEqual(RunIds.NewVersion(new DateTime(2026, 1, 1)), RunIds.NewVersion(new DateTime(2026, 1, 1)));
        Assert.Equal(JobKind.Train, RunIds.JobKindOf(RunIds.Training("a", "v1")));
        Assert.Equal(JobKind.Predict, RunIds.JobKindOf(RunIds.ScanRun("a", "b", scan)));
        Assert.Null(RunIds.JobKindOf("something-else"));
        Assert.Equal("train~a~v1~train", JobIds.For(RunIds.Training("a", "v1"), JobKind.Train));
    }
}
