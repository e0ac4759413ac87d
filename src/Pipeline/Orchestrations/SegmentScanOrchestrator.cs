using GuidedNet.Pipeline.Activities;
using GuidedNet.Pipeline.Contracts;
using GuidedNet.Pipeline.Storage;
using Microsoft.DurableTask;

namespace GuidedNet.Pipeline.Orchestrations;

/// <summary>Input of <see cref="SegmentScanOrchestrator"/>.</summary>
public sealed record SegmentScanInput(ScanDrop Drop, MonitorSettings Monitor);

/// <summary>
/// Drop to mask: validate the scan (quarantine it when bad), segment it with the project's
/// production model on a GPU worker, then update the project's summary and add the scan to the
/// dataset's unlabeled pool.
/// </summary>
public sealed class SegmentScanOrchestrator : TaskOrchestrator<SegmentScanInput, ScanRunResult>
{
    public override async Task<ScanRunResult> RunAsync(TaskOrchestrationContext context, SegmentScanInput input)
    {
        var retry = MonitorJobOrchestrator.ActivityRetry;
        var drop = input.Drop;
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

        string jobId = $"{context.InstanceId}-predict";
        string resultPrefix = BlobLayout.ResultPrefix(drop.Project, drop.Case);
        var message = new JobMessage
        {
            JobId = jobId,
            Kind = JobKind.Predict,
            OrchestrationId = context.InstanceId,
            Predict = new PredictJob(drop.Project, drop.Case, drop.ScanPath, check.LabelPath, production.ModelPath, production.Version, resultPrefix),
        };
        context.SetCustomStatus(new RunProgress("predicting", jobId, 1, 0));
        var status = await context.CallSubOrchestratorAsync<JobStatus>(TaskNames.MonitorJob, new MonitorJobInput(message, input.Monitor),
            new SubOrchestrationOptions { InstanceId = jobId + "-monitor" });
        if (status.State != JobState.Succeeded)
            throw new InvalidOperationException($"prediction job {jobId} {status.State.ToString().ToLowerInvariant()}: {status.Error}");

        context.SetCustomStatus(new RunProgress("publishing", jobId, 1, 1));
        await context.CallActivityAsync<int>(TaskNames.PublishScanResult, new PublishScanInput(drop.Project, drop.Case, drop.ScanPath), retry);
        context.SetCustomStatus(new RunProgress("done", jobId, 1, 1));
        return new ScanRunResult(drop.Project, drop.Case, "segmented", resultPrefix, production.Version, check.Reason);
    }
}
