using Azure.Storage.Queues;
using GuidedNet.Pipeline.Contracts;
using GuidedNet.Pipeline.Jobs;
using GuidedNet.Pipeline.Orchestrations;
using GuidedNet.Pipeline.Storage;
using GuidedNet.Pipeline.Tests.Infrastructure;

namespace GuidedNet.Pipeline.Tests;

/// <summary>
/// Failures the pipeline must survive, with real processes: a worker killed with SIGKILL in the
/// middle of training, a worker frozen (SIGSTOP) past the heartbeat timeout and resumed after its
/// job finished elsewhere, a worker stopped with SIGTERM, the local host restarted in the middle of
/// an orchestration, and poison messages.
/// </summary>
[Collection(PipelineCollection.Name)]
public sealed class ResilienceTests
{
    [Fact]
    public async Task A_worker_killed_during_training_is_replaced_and_training_resumes_from_its_checkpoint()
    {
        await using var pipeline = new PipelineHarness("kill");
        const string dataset = "resume";
        await pipeline.UploadDatasetAsync(dataset, cases: 6, labeled: 3, seed: 31);
        await pipeline.StartHostAsync(withWorker: false);
        var first = pipeline.StartWorker("w1");
        string id = await pipeline.StartTrainingAsync(dataset, PipelineHarness.TinyTraining(iterations: 400, checkpointEvery: 20));
        string jobId = JobIds.For(id, JobKind.Train);

        var running = await pipeline.WaitForAsync(async () =>
            await pipeline.Storage.ReadJsonAsync<JobStatus>(JobStore.StatusPath(jobId)) is { LastCheckpoint: not null, Iteration: >= 40 } s ? s : null,
            TimeSpan.FromMinutes(2), "a checkpoint of the training job");
        Assert.True(running.Iteration < 400, $"training finished before the kill (iteration {running.Iteration})");
        first.KillHard();
        int killedAt = (await pipeline.Storage.ReadJsonAsync<JobStatus>(JobStore.StatusPath(jobId)))!.Iteration!.Value;
        pipeline.StartWorker("w2");

        var run = await pipeline.WaitForRunAsync(id, TimeSpan.FromMinutes(4));
        Assert.True(run.GetProperty("state").GetString() == "Completed", run + "\n" + pipeline.ProcessOutput);
        var status = (await pipeline.Storage.ReadJsonAsync<JobStatus>(JobStore.StatusPath(jobId)))!;
        Assert.Equal(JobState.Succeeded, status.State);
        Assert.Equal(2, status.Attempt);
        Assert.Equal("w2", status.Worker);
        Assert.Equal(400, status.Iteration);
        // Resumed from the last uploaded checkpoint (a multiple of 20 at or before the kill), not from scratch.
        Assert.NotNull(status.ResumedFromIteration);
        Assert.InRange(status.ResumedFromIteration!.Value, 20, killedAt);
        Assert.Equal(0, status.ResumedFromIteration.Value % 20);
        // One final model.
        var versions = await pipeline.Storage.ListFoldersAsync($"models/{dataset}/");
        Assert.Single(versions);
        Assert.True(await pipeline.Storage.ExistsAsync($"models/{dataset}/{versions[0]}/model.guidednet"));
        var training = System.Text.Json.JsonDocument.Parse(await pipeline.Storage.ReadBytesAsync($"models/{dataset}/{versions[0]}/training.json", 64 << 20));
        var iterations = training.RootElement.GetProperty("history").GetProperty("iterations");
        Assert.Equal(400, iterations.GetArrayLength());
        Assert.Equal(400, iterations[399].GetProperty("iteration").GetInt32());
    }

    [Fact]
    public async Task A_frozen_worker_whose_job_was_redispatched_and_finished_elsewhere_writes_nothing_when_it_resumes()
    {
        await using var pipeline = new PipelineHarness("freeze");
        const string dataset = "owner";
        await pipeline.UploadDatasetAsync(dataset, cases: 6, labeled: 3, seed: 61);
        await pipeline.StartHostAsync(withWorker: false);
        var first = pipeline.StartWorker("w1");
        string id = await pipeline.StartTrainingAsync(dataset, PipelineHarness.TinyTraining(iterations: 200, checkpointEvery: 20));
        string jobId = JobIds.For(id, JobKind.Train);

        // Freeze the first worker right after it recorded a checkpoint: it is then in the middle of
        // training (its next write is a heartbeat or the next checkpoint), not inside an upload.
        await pipeline.WaitForAsync(async () =>
            await pipeline.Storage.ReadJsonAsync<JobStatus>(JobStore.StatusPath(jobId)) is { State: JobState.Running, LastCheckpoint: not null, Iteration: >= 20 } s ? s : null,
            TimeSpan.FromMinutes(2), "a checkpoint of the training job", poll: TimeSpan.FromMilliseconds(20));
        first.Freeze();

        // The monitor finds no heartbeat for 6 s and dispatches attempt 2, which a second worker finishes.
        pipeline.StartWorker("w2");
        var run = await pipeline.WaitForRunAsync(id, TimeSpan.FromMinutes(4));
        Assert.True(run.GetProperty("state").GetString() == "Completed", run + "\n" + pipeline.ProcessOutput);
        var status = (await pipeline.Storage.ReadJsonAsync<JobStatus>(JobStore.StatusPath(jobId)))!;
        Assert.Equal((JobState.Succeeded, 2, "w2"), (status.State, status.Attempt, status.Worker));
        async Task<Dictionary<string, string>> Blobs() =>
            (await pipeline.Storage.ListAsync(JobStore.Folder(jobId))).Concat(await pipeline.Storage.ListAsync($"models/{dataset}/")).ToDictionary(b => b.Path, b => b.ETag);
        var before = await Blobs();

        first.Resume();
        await pipeline.WaitForAsync(async () => { await Task.Yield(); return first.Printed("writes nothing more") ? "stopped" : null; },
            TimeSpan.FromMinutes(1), "the resumed worker to find its attempt superseded");
        Assert.Equal(before, await Blobs()); // no status, checkpoint, model, log or result written by the resumed worker
        Assert.Contains("no longer holds the job", first.Output);
        Assert.False(first.Printed($"{jobId}: succeeded"), first.Output);
        Assert.Single(await pipeline.Storage.ListFoldersAsync($"models/{dataset}/"));
        var registration = await pipeline.Storage.ReadJsonAsync<ProductionModel>(BlobLayout.Production(dataset));
        Assert.Equal(run.GetProperty("output").GetProperty("version").GetString(), registration!.Version);
    }

    [Fact]
    public async Task A_worker_stopped_with_SIGTERM_checkpoints_releases_its_job_and_exits_cleanly()
    {
        await using var pipeline = new PipelineHarness("term");
        const string dataset = "graceful";
        await pipeline.UploadDatasetAsync(dataset, cases: 6, labeled: 3, seed: 51);
        await pipeline.StartHostAsync(withWorker: false);
        var first = pipeline.StartWorker("w1");
        string id = await pipeline.StartTrainingAsync(dataset, PipelineHarness.TinyTraining(iterations: 300, checkpointEvery: 100));
        string jobId = JobIds.For(id, JobKind.Train);
        await pipeline.WaitForAsync(async () =>
            await pipeline.Storage.ReadJsonAsync<JobStatus>(JobStore.StatusPath(jobId)) is { State: JobState.Running, Iteration: >= 10 } s ? s : null,
            TimeSpan.FromMinutes(2), "the training job to run");

        Assert.True(first.Stop(TimeSpan.FromSeconds(60)), "the worker did not exit on SIGTERM:\n" + first.Output);
        var released = (await pipeline.Storage.ReadJsonAsync<JobStatus>(JobStore.StatusPath(jobId)))!;
        Assert.Equal(JobState.Queued, released.State);
        Assert.Equal("released", released.Phase);
        Assert.Equal(JobStore.CheckpointPath(jobId, 1), released.LastCheckpoint);
        Assert.True(await pipeline.Storage.ExistsAsync(JobStore.CheckpointPath(jobId, 1)));
        Assert.True(first.Printed("released for another worker"), first.Output);

        pipeline.StartWorker("w2");
        var run = await pipeline.WaitForRunAsync(id, TimeSpan.FromMinutes(4));
        Assert.True(run.GetProperty("state").GetString() == "Completed", run + "\n" + pipeline.ProcessOutput);
        var status = (await pipeline.Storage.ReadJsonAsync<JobStatus>(JobStore.StatusPath(jobId)))!;
        Assert.Equal("w2", status.Worker);
        Assert.Equal(1, status.Attempt); // released, not re-dispatched: the same attempt goes on
        Assert.True(status.ResumedFromIteration >= 10, $"resumed from {status.ResumedFromIteration}");
        string log = System.Text.Encoding.UTF8.GetString(await pipeline.Storage.ReadBytesAsync(JobStore.LogPath(jobId), 1 << 24));
        Assert.Contains("worker w1", log);
        Assert.Contains("released for another worker", log);
        Assert.Contains("worker w2", log);
        Assert.Contains("succeeded", log);
    }

    [Fact]
    public async Task A_host_restarted_in_the_middle_of_an_orchestration_completes_it()
    {
        await using var pipeline = new PipelineHarness("restart");
        const string dataset = "hostrestart";
        await pipeline.UploadDatasetAsync(dataset, cases: 6, labeled: 3, seed: 41);
        var host = await pipeline.StartHostAsync(withWorker: false);
        pipeline.StartWorker("w1");
        string id = await pipeline.StartTrainingAsync(dataset, PipelineHarness.TinyTraining(iterations: 150, checkpointEvery: 50));
        await pipeline.WaitForAsync(async () =>
            await pipeline.Storage.ReadJsonAsync<JobStatus>(JobStore.StatusPath(JobIds.For(id, JobKind.Train))) is { State: JobState.Running, Iteration: > 0 } s ? s : null,
            TimeSpan.FromMinutes(2), "the training job to run");

        Assert.True(host.Stop(TimeSpan.FromSeconds(30)), "the host did not stop on SIGTERM:\n" + host.Output);
        await Task.Delay(TimeSpan.FromSeconds(2));
        await pipeline.StartHostAsync(withWorker: false);

        var run = await pipeline.WaitForRunAsync(id, TimeSpan.FromMinutes(4));
        Assert.True(run.GetProperty("state").GetString() == "Completed", run + "\n" + pipeline.ProcessOutput);
        Assert.True(run.GetProperty("output").GetProperty("promoted").GetBoolean());
        Assert.NotNull(await pipeline.Storage.ReadJsonAsync<ProductionModel>(BlobLayout.Production(dataset)));
    }

    [Fact]
    public async Task Poison_messages_go_to_the_poison_queue_and_fail_their_job_with_the_reason()
    {
        await using var pipeline = new PipelineHarness("poison");
        var queue = new QueueClient(pipeline.ConnectionString, pipeline.Queue, new QueueClientOptions { MessageEncoding = QueueMessageEncoding.None });
        var poison = new QueueClient(pipeline.ConnectionString, pipeline.Queue + "-poison", new QueueClientOptions { MessageEncoding = QueueMessageEncoding.None });
        await queue.CreateIfNotExistsAsync();
        await poison.CreateIfNotExistsAsync();
        await queue.SendMessageAsync("{\"this is\": \"not a job\"}");

        // A project whose production model points at a blob that does not exist: every delivery fails.
        const string project = "ghost";
        await pipeline.Storage.WriteJsonAsync(BlobLayout.Production(project), new ProductionModel(project, "v1", "models/ghost/v1/model.guidednet", 0.5,
            "datasets/ghost/manifests/v1.json", DateTime.UtcNow, new TrainRequest()));
        await pipeline.StartHostAsync(withWorker: true);
        var (image, _) = pipeline.Phantom("case-1", seed: 7);
        await pipeline.Storage.UploadFileAsync(BlobLayout.IncomingScan(project, "case-1.nii.gz"), image);

        string jobId = await pipeline.WaitForAsync(async () =>
            (await pipeline.Storage.ListFoldersAsync("jobs/")).FirstOrDefault(j => j.StartsWith(RunIds.ScanPrefix(project, "case-1"), StringComparison.Ordinal)),
            TimeSpan.FromMinutes(1), "the scan's job");
        string runId = jobId[..jobId.LastIndexOf(RunIds.Separator)];
        Assert.Equal(JobIds.For(runId, JobKind.Predict), jobId);
        var run = await pipeline.WaitForRunAsync(runId, TimeSpan.FromMinutes(2));
        Assert.Equal("Failed", run.GetProperty("state").GetString());
        string error = run.GetProperty("error").GetString()!;
        Assert.Contains("models/ghost/v1/model.guidednet", error);
        Assert.Contains("3 deliveries", error);
        var status = (await pipeline.Storage.ReadJsonAsync<JobStatus>(JobStore.StatusPath(jobId)))!;
        Assert.Equal(JobState.Failed, status.State);
        Assert.Equal("poisoned", status.Phase);

        var bodies = new List<string>();
        foreach (var m in (await poison.ReceiveMessagesAsync(32)).Value) bodies.Add(m.Body.ToString());
        Assert.Contains("{\"this is\": \"not a job\"}", bodies);
        Assert.Contains(bodies, b => b.Contains(jobId));
        Assert.Equal(0, (await queue.GetPropertiesAsync()).Value.ApproximateMessagesCount);
    }
}
