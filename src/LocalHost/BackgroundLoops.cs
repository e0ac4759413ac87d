using GuidedNet.Pipeline.Jobs;
using GuidedNet.Pipeline.Options;
using Microsoft.DurableTask.Client;
using GuidedNet.Pipeline.Scheduling;

namespace GuidedNet.LocalHost;

/// <summary>Polls the drop zone: the workstation's stand-in for the Functions blob trigger.</summary>
public sealed class DropZonePoller(DropZone dropZone, ScheduleOptions schedule, ILogger<DropZonePoller> log) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stop)
    {
        using var timer = new PeriodicTimer(schedule.DropZonePoll);
        do
        {
            try
            {
                foreach (string id in await dropZone.PollAsync(stop))
                    log.LogInformation("scan dropped: started run {RunId}", id);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                log.LogWarning("drop-zone poll failed: {Error}", e.Message);
            }
        }
        while (await timer.WaitForNextTickAsync(stop).AsTask().ContinueWith(t => !t.IsCanceled && t.Result));
    }
}

/// <summary>Runs <see cref="RetrainPlanner"/> on the NCRONTAB schedule, as the Functions timer trigger does.</summary>
public sealed class RetrainTimer(RetrainPlanner planner, ScheduleOptions schedule, TimeProvider clock, ILogger<RetrainTimer> log) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stop)
    {
        var cron = schedule.RetrainSchedule();
        while (!stop.IsCancellationRequested)
        {
            var now = clock.GetUtcNow().UtcDateTime;
            var next = cron.GetNextOccurrence(now);
            try
            {
                await Task.Delay(next - now, clock, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            try
            {
                var started = await planner.RunAsync(stop);
                log.LogInformation("scheduled retraining at {Time:O}: {Count} run(s) started {Runs}", next, started.Count, string.Join(", ", started));
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                log.LogWarning("scheduled retraining failed: {Error}", e.Message);
            }
        }
    }
}

/// <summary>Relays workers' job notices to the runs they concern, as the Functions queue trigger does in Azure (<see cref="JobNotices"/>).</summary>
public sealed class JobNoticeRelay(JobNoticeQueue notices, DurableTaskClient client, ILogger<JobNoticeRelay> log) : BackgroundService
{
    /// <summary>How long an empty notice queue rests before the next look: a small part of a scan's latency, a small load on Azurite.</summary>
    private static readonly TimeSpan EmptyPause = TimeSpan.FromMilliseconds(200);

    protected override Task ExecuteAsync(CancellationToken stop) =>
        notices.RelayUntilStoppedAsync(notice => JobNotices.RelayAsync(client, notice, stop), EmptyPause,
            e => log.LogWarning("job notices: {Error}", e.Message), stop);
}
