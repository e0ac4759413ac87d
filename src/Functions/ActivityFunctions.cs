using GuidedNet.Pipeline.Activities;
using GuidedNet.Pipeline.Contracts;
using GuidedNet.Pipeline.Jobs;
using GuidedNet.Pipeline.Telemetry;
using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask;
using Microsoft.Extensions.DependencyInjection;

namespace GuidedNet.Functions;

/// <summary>One-line shims: each activity function runs the Pipeline's activity class, built from the app's services.</summary>
public sealed class ActivityFunctions(IServiceProvider services)
{
    [Function(TaskNames.ListDatasetCases)]
    public Task<DatasetListing> ListDatasetCases([ActivityTrigger] string dataset, FunctionContext context) =>
        Run<ListDatasetCasesActivity, string, DatasetListing>(TaskNames.ListDatasetCases, dataset, context);

    [Function(TaskNames.ValidateCases)]
    public Task<CaseCheck[]> ValidateCases([ActivityTrigger] ValidateCasesInput input, FunctionContext context) =>
        Run<ValidateCasesActivity, ValidateCasesInput, CaseCheck[]>(TaskNames.ValidateCases, input, context);

    [Function(TaskNames.WriteManifest)]
    public Task<string> WriteManifest([ActivityTrigger] DatasetManifest manifest, FunctionContext context) =>
        Run<WriteManifestActivity, DatasetManifest, string>(TaskNames.WriteManifest, manifest, context);

    [Function(TaskNames.DispatchJob)]
    public Task<DispatchResult> DispatchJob([ActivityTrigger] DispatchJobInput input, FunctionContext context) =>
        Run<DispatchJobActivity, DispatchJobInput, DispatchResult>(TaskNames.DispatchJob, input, context);

    [Function(TaskNames.ReadJobStatus)]
    public Task<JobStatusSnapshot> ReadJobStatus([ActivityTrigger] string jobId, FunctionContext context) =>
        Run<ReadJobStatusActivity, string, JobStatusSnapshot>(TaskNames.ReadJobStatus, jobId, context);

    [Function(TaskNames.FailJob)]
    public Task<JobStatusSnapshot> FailJob([ActivityTrigger] FailJobInput input, FunctionContext context) =>
        Run<FailJobActivity, FailJobInput, JobStatusSnapshot>(TaskNames.FailJob, input, context);

    [Function(TaskNames.CommitJobOutputs)]
    public Task<string[]> CommitJobOutputs([ActivityTrigger] string jobId, FunctionContext context) =>
        Run<CommitJobOutputsActivity, string, string[]>(TaskNames.CommitJobOutputs, jobId, context);

    [Function(TaskNames.RegisterModel)]
    public Task<ModelRegistration> RegisterModel([ActivityTrigger] RegisterModelInput input, FunctionContext context) =>
        Run<RegisterModelActivity, RegisterModelInput, ModelRegistration>(TaskNames.RegisterModel, input, context);

    [Function(TaskNames.ValidateScan)]
    public Task<ScanCheck> ValidateScan([ActivityTrigger] ScanDrop drop, FunctionContext context) =>
        Run<ValidateScanActivity, ScanDrop, ScanCheck>(TaskNames.ValidateScan, drop, context);

    [Function(TaskNames.FindProductionModel)]
    public Task<ProductionModel?> FindProductionModel([ActivityTrigger] string project, FunctionContext context) =>
        Run<FindProductionModelActivity, string, ProductionModel?>(TaskNames.FindProductionModel, project, context);

    [Function(TaskNames.PublishScanResult)]
    public Task<PublishedScan> PublishScanResult([ActivityTrigger] PublishScanInput input, FunctionContext context) =>
        Run<PublishScanResultActivity, PublishScanInput, PublishedScan>(TaskNames.PublishScanResult, input, context);

    private async Task<TOut> Run<TActivity, TIn, TOut>(string name, TIn input, FunctionContext context) where TActivity : TaskActivity<TIn, TOut> =>
        (TOut)(await new TracedActivity(name, services.GetRequiredService<TActivity>()).RunAsync(new ShimActivityContext(name, RunId(context)), input))!;

    /// <summary>The orchestration that called the activity (the durable extension binds it as <c>instanceId</c>): the run whose trace the activity joins.</summary>
    private static string RunId(FunctionContext context) =>
        context.BindingContext?.BindingData.TryGetValue("instanceId", out var id) == true && id is string { Length: > 0 } runId ? runId : context.InvocationId;

    /// <summary>What a class-based activity sees of its invocation when a Functions shim runs it.</summary>
    private sealed class ShimActivityContext(string name, string instanceId) : TaskActivityContext
    {
        public override TaskName Name => name;
        public override string InstanceId => instanceId;
    }
}
