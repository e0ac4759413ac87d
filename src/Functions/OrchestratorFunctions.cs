using GuidedNet.Pipeline.Activities;
using GuidedNet.Pipeline.Contracts;
using GuidedNet.Pipeline.Orchestrations;
using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask;

namespace GuidedNet.Functions;

/// <summary>One-line shims: each orchestrator function runs the Pipeline's orchestrator class.</summary>
public static class OrchestratorFunctions
{
    [Function(TaskNames.TrainDataset)]
    public static Task<TrainRunResult> TrainDataset([OrchestrationTrigger] TaskOrchestrationContext context) =>
        new TrainDatasetOrchestrator().RunAsync(context, context.GetInput<TrainDatasetInput>()!);

    [Function(TaskNames.SegmentScan)]
    public static Task<ScanRunResult> SegmentScan([OrchestrationTrigger] TaskOrchestrationContext context) =>
        new SegmentScanOrchestrator().RunAsync(context, context.GetInput<SegmentScanInput>()!);
}
