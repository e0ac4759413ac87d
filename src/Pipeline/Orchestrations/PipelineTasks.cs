using GuidedNet.Pipeline.Activities;
using GuidedNet.Pipeline.Jobs;
using GuidedNet.Pipeline.Telemetry;
using Microsoft.DurableTask;
using Microsoft.Extensions.DependencyInjection;

namespace GuidedNet.Pipeline.Orchestrations;

/// <summary>Registers every orchestrator and activity of the pipeline under its <see cref="TaskNames"/> name (local host and tests); activities run traced.</summary>
public static class PipelineTasks
{
    public static DurableTaskRegistry AddPipelineTasks(this DurableTaskRegistry registry)
    {
        registry.AddOrchestrator(TaskNames.TrainDataset, typeof(TrainDatasetOrchestrator));
        registry.AddOrchestrator(TaskNames.SegmentScan, typeof(SegmentScanOrchestrator));
        registry.AddTracedActivity<ListDatasetCasesActivity>(TaskNames.ListDatasetCases);
        registry.AddTracedActivity<ValidateCasesActivity>(TaskNames.ValidateCases);
        registry.AddTracedActivity<WriteManifestActivity>(TaskNames.WriteManifest);
        registry.AddTracedActivity<DispatchJobActivity>(TaskNames.DispatchJob);
        registry.AddTracedActivity<ReadJobStatusActivity>(TaskNames.ReadJobStatus);
        registry.AddTracedActivity<FailJobActivity>(TaskNames.FailJob);
        registry.AddTracedActivity<CommitJobOutputsActivity>(TaskNames.CommitJobOutputs);
        registry.AddTracedActivity<RegisterModelActivity>(TaskNames.RegisterModel);
        registry.AddTracedActivity<ValidateScanActivity>(TaskNames.ValidateScan);
        registry.AddTracedActivity<FindProductionModelActivity>(TaskNames.FindProductionModel);
        registry.AddTracedActivity<PublishScanResultActivity>(TaskNames.PublishScanResult);
        return registry;
    }

    /// <summary>An activity built from the host's services for each call, run in a span of its run's trace.</summary>
    private static void AddTracedActivity<TActivity>(this DurableTaskRegistry registry, string name) where TActivity : ITaskActivity =>
        registry.AddActivity(name, services => new TracedActivity(name, ActivatorUtilities.GetServiceOrCreateInstance<TActivity>(services)));
}
