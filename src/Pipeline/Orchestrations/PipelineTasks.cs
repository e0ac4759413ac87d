using GuidedNet.Pipeline.Activities;
using GuidedNet.Pipeline.Jobs;
using Microsoft.DurableTask;

namespace GuidedNet.Pipeline.Orchestrations;

/// <summary>Registers every orchestrator and activity of the pipeline under its <see cref="TaskNames"/> name (local host and tests).</summary>
public static class PipelineTasks
{
    public static DurableTaskRegistry AddPipelineTasks(this DurableTaskRegistry registry)
    {
        registry.AddOrchestrator(TaskNames.TrainDataset, typeof(TrainDatasetOrchestrator));
        registry.AddOrchestrator(TaskNames.SegmentScan, typeof(SegmentScanOrchestrator));
        registry.AddActivity(TaskNames.ListDatasetCases, typeof(ListDatasetCasesActivity));
        registry.AddActivity(TaskNames.ValidateCases, typeof(ValidateCasesActivity));
        registry.AddActivity(TaskNames.WriteManifest, typeof(WriteManifestActivity));
        registry.AddActivity(TaskNames.DispatchJob, typeof(DispatchJobActivity));
        registry.AddActivity(TaskNames.ReadJobStatus, typeof(ReadJobStatusActivity));
        registry.AddActivity(TaskNames.FailJob, typeof(FailJobActivity));
        registry.AddActivity(TaskNames.CommitJobOutputs, typeof(CommitJobOutputsActivity));
        registry.AddActivity(TaskNames.RegisterModel, typeof(RegisterModelActivity));
        registry.AddActivity(TaskNames.ValidateScan, typeof(ValidateScanActivity));
        registry.AddActivity(TaskNames.FindProductionModel, typeof(FindProductionModelActivity));
        registry.AddActivity(TaskNames.PublishScanResult, typeof(PublishScanResultActivity));
        return registry;
    }
}
