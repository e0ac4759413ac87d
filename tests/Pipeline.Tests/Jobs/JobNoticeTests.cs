using System.Diagnostics;
using GuidedNet.Pipeline.Contracts;
using GuidedNet.Pipeline.Jobs;
using GuidedNet.Pipeline.Orchestrations;
using GuidedNet.Pipeline.Storage;
using GuidedNet.Pipeline.Tests.Infrastructure;
using Microsoft.DurableTask.Client;

namespace GuidedNet.Pipeline.Tests.Jobs;

/// <summary>
/// The wake-up protocol (<see cref="JobNotices"/>) end to end in this process: a worker's notices,
/// relayed to the in-memory durable host, wake the run at once; a run whose notices are lost still
/// ends at its poll; a notice that is not understood is taken off the queue, never relayed.
/// </summary>
public sealed class JobNoticeTests(Azurite azurite) : IClassFixture<Azurite>
{
    private static async Task<string> StartScanRunAsync(InProcessPipeline p, string project)
    {
        await p.Storage.WriteJsonAsync(BlobLayout.Production(project), new ProductionModel(project, "v0", $"models/{project}/v0/model.guidednet", 0.5,
            $"datasets/{project}/manifests/v0.json", DateTime.UtcNow, new TrainRequest()));
        string path = BlobLayout.IncomingScan(project, "scan.nii.gz");
        await p.UploadScanAsync(path, seed: 11);
        return (await p.NewDropZone(project).StartAsync((await p.Storage.GetAsync(path))!))!;
    }

    [Fact]
    public async Task The_worker_s_notice_wakes_the_run_long_before_its_next_poll()
    {
        await using var p = await InProcessPipeline.StartAsync(azurite);
        // Polls a minute apart: without the notice the run would not look at its job within the test's limit.
        p.JobOptions.PollInterval = TimeSpan.FromSeconds(60);
        p.JobOptions.HeartbeatTimeout = TimeSpan.FromSeconds(120);
        var (started, release) = p.Runner.HoldRuns();
        p.StartWorker("w1");
        string run = await StartScanRunAsync(p, InProcessPipeline.UniqueName("notice"));

        await started.Task.WaitAsync(TimeSpan.FromSeconds(30));
        // The run is waiting on its timer now; the job finishes while it waits.
        var clock = Stopwatch.StartNew();
        release.SetResult();
        var done = await p.WaitForRunAsync(run, TimeSpan.FromSeconds(25));
        Assert.Equal(OrchestrationRuntimeStatus.Completed, done.RuntimeStatus);
        Assert.Equal(ScanRunStates.Segmented, done.ReadOutputAs<ScanRunResult>()!.State);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(25), $"published {clock.Elapsed.TotalSeconds:F1} s after the job finished");
    }

    [Fact]
    public async Task A_run_whose_notices_are_lost_still_ends_at_its_poll()
    {
        await using var p = await InProcessPipeline.StartAsync(azurite);
        p.JobOptions.PollInterval = TimeSpan.FromSeconds(1);
        p.JobOptions.HeartbeatTimeout = TimeSpan.FromSeconds(3);
        p.StartWorker("w1", notify: false);
        string run = await StartScanRunAsync(p, InProcessPipeline.UniqueName("lost"));
        var done = await p.WaitForRunAsync(run, TimeSpan.FromSeconds(30));
        Assert.Equal(OrchestrationRuntimeStatus.Completed, done.RuntimeStatus);
        Assert.Equal(ScanRunStates.Segmented, done.ReadOutputAs<ScanRunResult>()!.State);
    }

    [Fact]
    public async Task A_worker_notifies_its_claim_and_its_outcome_and_the_relay_takes_every_message_off_the_queue()
    {
        await using var p = await InProcessPipeline.StartAsync(azurite, durable: false);
        string dataset = InProcessPipeline.UniqueName("notified");
        var message = new JobMessage
        {
            JobId = $"train~{dataset}~v1~train", Kind = JobKind.Train, OrchestrationId = $"train~{dataset}~v1",
            Train = new TrainJob(dataset, "v1", $"datasets/{dataset}/manifests/v1.json", $"models/{dataset}/v1/", new TrainRequest()),
        };
        await p.DispatchAsync(message);
        Assert.True(await p.NewWorker("w1").HandleAsync(await p.ReceiveAsync(), default));

        // Something that is not a notice, on the same queue: dropped, never relayed.
        await new Azure.Storage.Queues.QueueClient(p.StorageOptions.ConnectionString, p.JobOptions.EffectiveNoticeQueueName).SendMessageAsync("not json");
        var relayed = new List<JobNotice>();
        int taken = 0;
        for (int i = 0; i < 5 && taken < 3; i++)
            taken += await p.Notices.RelayWaitingAsync(n =>
            {
                lock (relayed) relayed.Add(n);
                return Task.CompletedTask;
            });
        Assert.Equal(3, taken);
        Assert.Equal(new[] { JobState.Running, JobState.Succeeded }, relayed.Select(n => n.State).Order());
        Assert.All(relayed, n => Assert.Equal((message.OrchestrationId, message.JobId, 1), (n.OrchestrationId, n.JobId, n.Attempt)));
        Assert.Equal(0, await p.Notices.RelayWaitingAsync(_ => Task.CompletedTask));
    }
}
