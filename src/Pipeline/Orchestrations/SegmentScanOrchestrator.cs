using GuidedNet.Pipeline.Activities;
using GuidedNet.Pipeline.Contracts;
using GuidedNet.Pipeline.Storage;
using Microsoft.DurableTask;

namespace GuidedNet.Pipeline.Orchestrations;

/// <summary>Where a scan's run stands once its job is dispatched; carried across continue-as-new.</summary>
public sealed record SegmentationStage(JobMessage Job, string ModelVersion, string? LabelProblem);

/// <summary>Input of <see cref="SegmentScanOrchestrator"/>.</summary>
public sealed record SegmentScanInput(ScanDrop Drop, MonitorSettings Monitor, SegmentationStage? Stage = null);

/// <summary>
/// Drop to mask: validate the scan (quarantine it when bad), segment it with the project's
/// production model on a GPU worker, then update the project's summary and add the scan to the
/// dataset's unlabeled pool.
/// </summary>
public sealed class SegmentScanOrchestrator : TaskOrchestrator<SegmentScanInput, ScanRunResult>
{
    public override async Task<ScanRunResult> RunAsync(TaskOrchestrationContext context, SegmentScanInput input)
    {
        var retry = JobMonitor.ActivityRetry;
        var drop = input.Drop;
        var stage = input.Stage;
        if (stage is null)
        {
            context.SetCustomStatus(new RunProgress("validating", CasesTotal: 1, CasesDone: 0));
            var check = await context.CallActivityAsync<ScanCheck>(TaskNames.ValidateScan, drop, retry);
            if (!check.Accepted)
            {
                context.SetCustomStatus(new RunProgress("quarantined", CasesTotal: 1, CasesDone: 1, Quarantined: 1));
                return new ScanRunResult(drop.Project, drop.Case, "quarantined", null, null, check.Reason);
            }

            var production = await context.CallActivityAsync<ProductionModel?>(TaskNames.FindProductionModel, drop.Project, retry)
                             ?? throw new InvalidOperationException(
                                 $"project '{drop.Project}' has no production model: train {BlobLayout.DatasetPrefix(drop.Project)} first (POST /api/datasets/{drop.Project}/train), then drop the scan again");
            var job = new JobMessage
            {
                JobId = $"{context.InstanceId}-predict",
                Kind = JobKind.Predict,
                OrchestrationId = context.InstanceId,
                Predict = new PredictJob(drop.Project, drop.Case, drop.ScanPath, check.LabelPath, production.ModelPath, production.Version,
                    BlobLayout.ResultPrefix(drop.Project, drop.Case)),
            };
            stage = new SegmentationStage(job, production.Version, check.Reason);
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
        await context.CallActivityAsync<int>(TaskNames.PublishScanResult, new PublishScanInput(drop.Project, drop.Case, drop.ScanPath), retry);
        context.SetCustomStatus(new RunProgress("done", message.JobId, 1, 1, Attempt: message.Attempt));
        return new ScanRunResult(drop.Project, drop.Case, "segmented", message.Predict!.ResultPrefix, stage.ModelVersion, stage.LabelProblem);
    }
}
