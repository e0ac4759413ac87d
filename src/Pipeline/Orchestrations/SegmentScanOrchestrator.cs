using GuidedNet.Pipeline.Activities;
using GuidedNet.Pipeline.Contracts;
using GuidedNet.Pipeline.Jobs;
using GuidedNet.Pipeline.Storage;
using Microsoft.DurableTask;

namespace GuidedNet.Pipeline.Orchestrations;

/// <summary>Where a scan's run stands once its job is dispatched; carried across continue-as-new.</summary>
public sealed record SegmentationStage(JobMessage Job, BlobPin Scan, string ModelVersion, string? LabelProblem);

/// <summary>Input of <see cref="SegmentScanOrchestrator"/>.</summary>
public sealed record SegmentScanInput(ScanDrop Drop, MonitorSettings Monitor, SegmentationStage? Stage = null);

/// <summary>
/// Drop to mask: pin and validate the dropped version of the scan (quarantine it when bad),
/// segment exactly those bytes with the project's production model on a GPU worker, commit the
/// result to the run's own folder, then point the case's latest.json at it (if it is the newest
/// drop), update the project's summary and add the scan to the dataset's unlabeled pool.
/// </summary>
public sealed class SegmentScanOrchestrator : TaskOrchestrator<SegmentScanInput, ScanRunResult>
{
    public override async Task<ScanRunResult> RunAsync(TaskOrchestrationContext context, SegmentScanInput input)
    {
        var retry = JobMonitor.ActivityRetry;
        var drop = input.Drop;
        string run = RunIds.ContentKey(drop.Scan); // the run's folder under the case
        var stage = input.Stage;
        if (stage is null)
        {
            context.SetCustomStatus(new RunProgress("validating", CasesTotal: 1, CasesDone: 0));
            var check = await context.CallActivityAsync<ScanCheck>(TaskNames.ValidateScan, drop, retry);
            if (check.Outcome != ScanOutcome.Accepted)
            {
                string state = check.Outcome == ScanOutcome.Quarantined ? ScanRunStates.Quarantined : ScanRunStates.Superseded;
                context.SetCustomStatus(new RunProgress(state, CasesTotal: 1, CasesDone: 1, Quarantined: check.Outcome == ScanOutcome.Quarantined ? 1 : 0));
                return new ScanRunResult(drop.Project, drop.Case, context.InstanceId, state, null, null, check.Reason);
            }

            var production = await context.CallActivityAsync<ProductionModel?>(TaskNames.FindProductionModel, drop.Project, retry)
                             ?? throw new InvalidOperationException(
                                 $"project '{drop.Project}' has no production model: train {BlobLayout.DatasetPrefix(drop.Project)} first (POST /api/datasets/{drop.Project}/train), then drop the scan again");
            var job = new JobMessage
            {
                JobId = JobIds.For(context.InstanceId, JobKind.Predict),
                Kind = JobKind.Predict,
                OrchestrationId = context.InstanceId,
                Predict = new PredictJob(drop.Project, drop.Case, context.InstanceId, check.Scan!, check.Label, production.ModelPath, production.Version,
                    BlobLayout.ResultPrefix(drop.Project, drop.Case, run)),
            };
            stage = new SegmentationStage(job, check.Scan!, production.Version, check.LabelProblem);
            await JobMonitor.DispatchAsync(context, job);
        }

        context.SetCustomStatus(new RunProgress("predicting", stage.Job.JobId, 1, 0, Attempt: stage.Job.Attempt));
        var (status, message) = await JobMonitor.WatchAsync(context, stage.Job, input.Monitor);
        if (status is null)
        {
            context.ContinueAsNew(input with { Stage = stage with { Job = message } });
            return null!; // not observed: the run continues as new
        }
        if (status.State != JobState.Succeeded)
            throw new InvalidOperationException($"prediction job {message.JobId} {status.State.ToString().ToLowerInvariant()}: {status.Error}");

        context.SetCustomStatus(new RunProgress("publishing", message.JobId, 1, 1, Attempt: message.Attempt));
        await context.CallActivityAsync<string[]>(TaskNames.CommitJobOutputs, message.JobId, retry);
        string resultPrefix = message.Predict!.ResultPrefix;
        await context.CallActivityAsync<PublishedScan>(TaskNames.PublishScanResult, new PublishScanInput(drop, context.InstanceId, resultPrefix, stage.Scan), retry);
        context.SetCustomStatus(new RunProgress("done", message.JobId, 1, 1, Attempt: message.Attempt));
        return new ScanRunResult(drop.Project, drop.Case, context.InstanceId, ScanRunStates.Segmented, resultPrefix, stage.ModelVersion, stage.LabelProblem);
    }
}
