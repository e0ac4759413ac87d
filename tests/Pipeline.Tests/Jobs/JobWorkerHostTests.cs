using GuidedNet.Pipeline.Contracts;
using GuidedNet.Pipeline.Jobs;
using GuidedNet.Pipeline.Jobs.Worker;
using GuidedNet.Pipeline.Storage;
using GuidedNet.Pipeline.Tests.Infrastructure;
using Azure.Storage.Queues;

namespace GuidedNet.Pipeline.Tests.Jobs;

/// <summary>
/// Both ends of the job protocol in this process, on Azurite storage and a real storage queue,
/// with fake runners that a test holds at a gate: every transition a worker makes, a stale
/// attempt, a superseded owner, a worker that comes back, poison after N deliveries, cancel in
/// each phase, release on stop, and the commit of outputs.
/// </summary>
public sealed class JobWorkerHostTests(Azurite azurite) : IClassFixture<Azurite>
{
    private static JobMessage TrainMessage(string dataset) => new()
    {
        JobId = $"train~{dataset}~v1~train", Kind = JobKind.Train, OrchestrationId = $"train~{dataset}~v1",
        Train = new TrainJob(dataset, "v1", $"datasets/{dataset}/manifests/v1.json", $"models/{dataset}/v1/", new TrainRequest()),
    };

    /// <summary>Every blob of the job with its ETag: what "wrote nothing more" is checked against.</summary>
    private static async Task<Dictionary<string, string>> JobBlobsAsync(InProcessPipeline p, string jobId) =>
        (await p.Storage.ListAsync(JobStore.Folder(jobId))).ToDictionary(b => b.Path, b => b.ETag);

    [Fact]
    public async Task A_job_runs_once_and_its_outputs_reach_their_final_names_only_through_the_commit()
    {
        await using var p = await InProcessPipeline.StartAsync(azurite, durable: false);
        var message = TrainMessage(InProcessPipeline.UniqueName("happy"));
        var dispatched = await p.DispatchAsync(message);
        Assert.True(dispatched.Recorded);
        Assert.Equal(JobState.Queued, dispatched.Current.Status!.State);

        Assert.True(await p.NewWorker("w1").HandleAsync(await p.ReceiveAsync(), default));
        var status = (await p.Jobs.ReadAsync(message.JobId))!.Value;
        Assert.Equal(JobState.Succeeded, status.State);
        Assert.Equal(JobPhases.Done, status.Phase);
        Assert.Equal("w1", status.Worker);
        Assert.Null(status.Owner);
        Assert.Equal(1, p.Runner.Runs);
        Assert.Equal(2, status.Outputs.Count);
        foreach (var output in status.Outputs)
        {
            Assert.StartsWith(JobStore.AttemptFolder(message.JobId, 1) + "outputs/", output.Staged);
            Assert.False(await p.Storage.ExistsAsync(output.Final), $"{output.Final} exists before the commit");
        }
        Assert.Null(await p.Queue.ReceiveAsync()); // the message is completed

        var commit = new CommitJobOutputsActivity(p.Jobs);
        var finals = await commit.RunAsync(null!, message.JobId);
        Assert.Equal(new[] { $"models/{message.Train!.Dataset}/v1/model.guidednet", $"models/{message.Train.Dataset}/v1/metrics.json" }, finals);
        foreach (var output in status.Outputs)
            Assert.Equal(output.Md5, (await p.Storage.GetAsync(output.Final))!.Md5);
        Assert.Equal(finals, await commit.RunAsync(null!, message.JobId)); // a retried commit finds its copies and goes on
        string log = System.Text.Encoding.UTF8.GetString(await p.Storage.ReadBytesAsync(JobStore.LogPath(message.JobId), 1 << 20));
        Assert.Contains("attempt 1, delivery 1, worker w1", log);
        Assert.Contains("succeeded", log);
    }

    [Fact]
    public async Task Outputs_of_a_job_that_has_not_succeeded_are_never_committed()
    {
        await using var p = await InProcessPipeline.StartAsync(azurite, durable: false);
        var message = TrainMessage(InProcessPipeline.UniqueName("nocommit"));
        await p.DispatchAsync(message);
        var error = await Assert.ThrowsAsync<JobProtocolException>(() => new CommitJobOutputsActivity(p.Jobs).RunAsync(null!, message.JobId));
        Assert.Contains("only after the job succeeded", error.Message);
    }

    [Fact]
    public async Task A_message_of_a_superseded_attempt_is_dropped_without_running()
    {
        await using var p = await InProcessPipeline.StartAsync(azurite, durable: false);
        var message = TrainMessage(InProcessPipeline.UniqueName("stale"));
        await p.DispatchAsync(message);
        var first = await p.ReceiveAsync();
        var queued = await p.Jobs.ReadAsync(message.JobId);
        Assert.True((await p.DispatchAsync(message.NextAttempt(), queued!.ETag)).Recorded);

        var worker = p.NewWorker("w1");
        Assert.False(await worker.HandleAsync(first, default));
        Assert.Equal(0, p.Runner.Runs);
        Assert.Contains("attempt 1 was superseded by attempt 2", p.WorkerLog.ToString());
        var status = (await p.Jobs.ReadAsync(message.JobId))!.Value;
        Assert.Equal((2, JobState.Queued), (status.Attempt, status.State));

        Assert.True(await worker.HandleAsync(await p.ReceiveAsync(), default));
        Assert.Equal(1, p.Runner.Runs);
        Assert.Equal((2, JobState.Succeeded), ((await p.Jobs.ReadAsync(message.JobId))!.Value.Attempt, (await p.Jobs.ReadAsync(message.JobId))!.Value.State));
    }

    [Fact]
    public async Task A_second_delivery_of_a_running_attempt_is_dropped_and_the_running_claim_keeps_the_job()
    {
        await using var p = await InProcessPipeline.StartAsync(azurite, durable: false);
        var message = TrainMessage(InProcessPipeline.UniqueName("dup"));
        var (started, release) = p.Runner.HoldRuns();
        await p.DispatchAsync(message);
        await p.Queue.SendAsync(message); // the same attempt sent twice (a dispatch retried after it had sent)
        var running = p.NewWorker("w1").HandleAsync(await p.ReceiveAsync(), default);
        await started.Task.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.False(await p.NewWorker("w2").HandleAsync(await p.ReceiveAsync(), default));
        Assert.Contains("attempt 1 is running on w1", p.WorkerLog.ToString());
        release.SetResult();
        Assert.True(await running);
        Assert.Equal(1, p.Runner.Runs);
        Assert.Equal("w1", (await p.Jobs.ReadAsync(message.JobId))!.Value.Worker);
    }

    [Fact]
    public async Task A_claim_superseded_by_a_redispatch_stops_within_a_heartbeat_and_writes_nothing_more()
    {
        await using var p = await InProcessPipeline.StartAsync(azurite, durable: false);
        var message = TrainMessage(InProcessPipeline.UniqueName("superseded"));
        var started = new TaskCompletionSource<JobAttempt>();
        Exception? checkpointRefused = null, outputRefused = null;
        string checkpoint = Path.GetTempFileName();
        p.Runner.Behavior = async (attempt, ct) =>
        {
            started.TrySetResult(attempt);
            try
            {
                await Task.Delay(Timeout.Infinite, ct);
            }
            catch (OperationCanceledException)
            {
            }
            // What a training runner does when its token fires: store a checkpoint, or stage a file.
            checkpointRefused = await Record(() => attempt.SaveCheckpointAsync(checkpoint));
            outputRefused = await Record(() => attempt.StageOutputAsync("models/x/v1/model.guidednet", checkpoint));
            return false;
        };
        await p.DispatchAsync(message);
        var handled = p.NewWorker("w1", heartbeat: TimeSpan.FromMilliseconds(100)).HandleAsync(await p.ReceiveAsync(), default);
        var attempt = await started.Task.WaitAsync(TimeSpan.FromSeconds(10));

        // The monitor re-dispatches (conditional on the status it read; a heartbeat in between makes it read again).
        DispatchResult redispatch;
        do
        {
            var current = await p.Jobs.ReadAsync(message.JobId);
            redispatch = await p.DispatchAsync(message.NextAttempt(), current!.ETag);
        }
        while (!redispatch.Recorded);
        var afterRedispatch = await JobBlobsAsync(p, message.JobId);

        Assert.True(await handled.WaitAsync(TimeSpan.FromSeconds(10))); // the attempt ran, then stopped
        Assert.True(attempt.IsSuperseded);
        Assert.Contains("superseded by attempt 2", attempt.SupersededReason);
        Assert.IsType<JobSupersededException>(checkpointRefused);
        Assert.IsType<JobSupersededException>(outputRefused);
        Assert.Equal(afterRedispatch, await JobBlobsAsync(p, message.JobId)); // no status, checkpoint, output or log written after
        var status = (await p.Jobs.ReadAsync(message.JobId))!.Value;
        Assert.Equal((2, JobState.Queued), (status.Attempt, status.State));
        Assert.Contains("writes nothing more", p.WorkerLog.ToString());
        File.Delete(checkpoint);
    }

    private static async Task<Exception?> Record(Func<Task> write)
    {
        try
        {
            await write();
            return null;
        }
        catch (Exception e)
        {
            return e;
        }
    }

    [Fact]
    public async Task A_worker_that_beats_after_the_monitor_read_its_status_keeps_its_job()
    {
        await using var p = await InProcessPipeline.StartAsync(azurite, durable: false);
        var message = TrainMessage(InProcessPipeline.UniqueName("comeback"));
        var (started, release) = p.Runner.HoldRuns();
        await p.DispatchAsync(message);
        var handled = p.NewWorker("w1").HandleAsync(await p.ReceiveAsync(), default);
        await started.Task.WaitAsync(TimeSpan.FromSeconds(10));
        var seen = await p.Jobs.ReadAsync(message.JobId);
        await p.WaitForAsync(async () => (await p.Jobs.ReadAsync(message.JobId))!.ETag != seen!.ETag ? "beat" : null, "a heartbeat");

        var redispatch = await p.DispatchAsync(message.NextAttempt(), seen!.ETag);
        Assert.False(redispatch.Recorded);
        Assert.Equal(1, redispatch.Current.Status!.Attempt);
        var giveUp = await new FailJobActivity(p.Jobs, p.Clock).RunAsync(null!, new FailJobInput(message.JobId, "dead", seen.ETag));
        Assert.Equal(JobState.Running, giveUp.Status!.State);

        release.SetResult();
        Assert.True(await handled);
        Assert.Equal((1, JobState.Succeeded), ((await p.Jobs.ReadAsync(message.JobId))!.Value.Attempt, (await p.Jobs.ReadAsync(message.JobId))!.Value.State));
    }

    [Fact]
    public async Task A_message_that_keeps_failing_is_poisoned_after_the_delivery_limit_and_an_invalid_job_at_once()
    {
        await using var p = await InProcessPipeline.StartAsync(azurite, durable: false);
        var poison = new QueueClient(azurite.ConnectionString, p.JobOptions.QueueName + "-poison", new QueueClientOptions { MessageEncoding = QueueMessageEncoding.None });
        var flaky = TrainMessage(InProcessPipeline.UniqueName("flaky"));
        var invalid = TrainMessage(InProcessPipeline.UniqueName("invalid"));
        p.Runner.Behavior = (attempt, _) => attempt.JobId == flaky.JobId
            ? throw new IOException("device lost")
            : throw new InvalidDataException("datasets/x/manifests/v1.json: manifest not found");

        await p.DispatchAsync(flaky);
        var worker = p.NewWorker("w1");
        for (int delivery = 1; delivery <= 3; delivery++)
        {
            Assert.True(await worker.HandleAsync(await p.ReceiveAsync(), default));
            var status = (await p.Jobs.ReadAsync(flaky.JobId))!.Value;
            Assert.Equal(delivery < 3 ? JobPhases.Retrying : JobPhases.Poisoned, status.Phase);
            Assert.Contains("device lost", status.Error);
        }
        var poisoned = (await p.Jobs.ReadAsync(flaky.JobId))!.Value;
        Assert.Equal(JobState.Failed, poisoned.State);
        Assert.Contains("failed on each of 3 deliveries", poisoned.Error);
        Assert.Equal(3, p.Runner.Runs);

        await p.DispatchAsync(invalid);
        Assert.True(await worker.HandleAsync(await p.ReceiveAsync(), default));
        var rejected = (await p.Jobs.ReadAsync(invalid.JobId))!.Value;
        Assert.Equal((JobState.Failed, JobPhases.Poisoned), (rejected.State, rejected.Phase));
        Assert.StartsWith("invalid job: InvalidDataException", rejected.Error);
        Assert.Equal(4, p.Runner.Runs);

        var bodies = (await poison.ReceiveMessagesAsync(10)).Value.Select(m => m.Body.ToString()).ToList();
        Assert.Equal(2, bodies.Count);
        Assert.Contains(bodies, b => b.Contains(flaky.JobId));
        Assert.Contains(bodies, b => b.Contains(invalid.JobId));
        Assert.Null(await p.Queue.ReceiveAsync());
    }

    [Fact]
    public async Task A_message_delivered_more_often_than_allowed_is_poisoned_before_it_runs()
    {
        await using var p = await InProcessPipeline.StartAsync(azurite, durable: false);
        var message = TrainMessage(InProcessPipeline.UniqueName("redelivered"));
        await p.DispatchAsync(message);
        // Deliveries that never finished (workers that died before claiming): the message comes back each time.
        for (int i = 0; i < 3; i++) await (await p.ReceiveAsync()).ReleaseAsync();
        Assert.False(await p.NewWorker("w1").HandleAsync(await p.ReceiveAsync(), default));
        var status = (await p.Jobs.ReadAsync(message.JobId))!.Value;
        Assert.Equal(JobPhases.Poisoned, status.Phase);
        Assert.Contains("delivered 4 times (at most 3)", status.Error);
        Assert.Equal(0, p.Runner.Runs);
    }

    [Fact]
    public async Task A_job_cancelled_before_dispatch_is_never_sent()
    {
        await using var p = await InProcessPipeline.StartAsync(azurite, durable: false);
        var message = TrainMessage(InProcessPipeline.UniqueName("cancel-early"));
        await p.Jobs.RequestCancelAsync(message.JobId, message.OrchestrationId, DateTime.UtcNow);
        var dispatched = await p.DispatchAsync(message);
        Assert.False(dispatched.Recorded);
        Assert.Equal(JobState.Cancelled, dispatched.Current.Status!.State);
        Assert.Null(await p.Queue.ReceiveAsync());
        Assert.Equal(0, p.Runner.Runs);
    }

    [Fact]
    public async Task A_job_cancelled_while_queued_is_marked_cancelled_by_the_worker_and_never_runs()
    {
        await using var p = await InProcessPipeline.StartAsync(azurite, durable: false);
        var message = TrainMessage(InProcessPipeline.UniqueName("cancel-queued"));
        await p.DispatchAsync(message);
        await p.Jobs.RequestCancelAsync(message.JobId, message.OrchestrationId, DateTime.UtcNow);
        Assert.False(await p.NewWorker("w1").HandleAsync(await p.ReceiveAsync(), default));
        Assert.Equal(JobState.Cancelled, (await p.Jobs.ReadAsync(message.JobId))!.Value.State);
        Assert.Equal(0, p.Runner.Runs);
        Assert.Null(await p.Queue.ReceiveAsync());
    }

    [Fact]
    public async Task A_job_cancelled_while_running_stops_at_the_next_heartbeat()
    {
        await using var p = await InProcessPipeline.StartAsync(azurite, durable: false);
        var message = TrainMessage(InProcessPipeline.UniqueName("cancel-running"));
        var started = new TaskCompletionSource();
        p.Runner.Behavior = async (_, ct) =>
        {
            started.TrySetResult();
            await Task.Delay(Timeout.Infinite, ct);
            return true;
        };
        await p.DispatchAsync(message);
        var handled = p.NewWorker("w1").HandleAsync(await p.ReceiveAsync(), default);
        await started.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await p.Jobs.RequestCancelAsync(message.JobId, message.OrchestrationId, DateTime.UtcNow);
        Assert.True(await handled.WaitAsync(TimeSpan.FromSeconds(10)));
        var status = (await p.Jobs.ReadAsync(message.JobId))!.Value;
        Assert.Equal((JobState.Cancelled, JobPhases.Cancelled), (status.State, status.Phase));
        Assert.Contains("cancel requested", p.WorkerLog.ToString());
        Assert.Null(await p.Queue.ReceiveAsync());
    }

    [Fact]
    public async Task A_cancel_after_success_changes_nothing()
    {
        await using var p = await InProcessPipeline.StartAsync(azurite, durable: false);
        var message = TrainMessage(InProcessPipeline.UniqueName("cancel-late"));
        await p.DispatchAsync(message);
        await p.NewWorker("w1").HandleAsync(await p.ReceiveAsync(), default);
        var done = await p.Jobs.ReadAsync(message.JobId);
        await p.Jobs.RequestCancelAsync(message.JobId, message.OrchestrationId, DateTime.UtcNow);
        Assert.False((await p.DispatchAsync(message)).Recorded);
        Assert.Equal(done!.ETag, (await p.Jobs.ReadAsync(message.JobId))!.ETag);
    }

    [Fact]
    public async Task A_stopped_worker_stores_its_checkpoint_releases_the_attempt_and_the_next_worker_resumes_it()
    {
        await using var p = await InProcessPipeline.StartAsync(azurite, durable: false);
        var message = TrainMessage(InProcessPipeline.UniqueName("release"));
        string local = Path.GetTempFileName();
        await File.WriteAllTextAsync(local, "iteration 40");
        var running = new TaskCompletionSource();
        string? resumedFrom = null;
        p.Runner.Behavior = async (attempt, ct) =>
        {
            if (attempt.ResumeCheckpoint is { } checkpoint)
            {
                resumedFrom = checkpoint;
                return await p.Runner.ProduceOutputsAsync(attempt, ct);
            }
            await attempt.SaveCheckpointAsync(local, ct);
            running.TrySetResult();
            try
            {
                await Task.Delay(Timeout.Infinite, ct);
            }
            catch (OperationCanceledException)
            {
                await attempt.SaveCheckpointAsync(local, CancellationToken.None);
            }
            return false;
        };
        await p.DispatchAsync(message);
        using var stop = new CancellationTokenSource();
        var first = p.NewWorker("w1").HandleAsync(await p.ReceiveAsync(), stop.Token);
        await running.Task.WaitAsync(TimeSpan.FromSeconds(10));
        stop.Cancel(); // SIGTERM
        await first.WaitAsync(TimeSpan.FromSeconds(10));
        var released = (await p.Jobs.ReadAsync(message.JobId))!.Value;
        Assert.Equal((JobState.Queued, JobPhases.Released, 1), (released.State, released.Phase, released.Attempt));
        Assert.Equal(JobStore.CheckpointPath(message.JobId, 1), released.LastCheckpoint);

        Assert.True(await p.NewWorker("w2").HandleAsync(await p.ReceiveAsync(), default));
        Assert.Equal(JobStore.CheckpointPath(message.JobId, 1), resumedFrom);
        var done = (await p.Jobs.ReadAsync(message.JobId))!.Value;
        Assert.Equal((JobState.Succeeded, 1, "w2"), (done.State, done.Attempt, done.Worker));
        string log = System.Text.Encoding.UTF8.GetString(await p.Storage.ReadBytesAsync(JobStore.LogPath(message.JobId), 1 << 20));
        Assert.Contains("worker w1", log);
        Assert.Contains("released for another worker", log);
        Assert.Contains("worker w2", log);
        File.Delete(local);
    }
}
