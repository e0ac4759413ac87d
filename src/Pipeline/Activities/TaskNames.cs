namespace GuidedNet.Pipeline.Activities;

/// <summary>
/// Names of every orchestrator and activity, shared by the registrations of both hosts and the
/// Functions shims (which must use exactly these names). Class names differ from them on purpose:
/// the DurableTask analyzer fails when a class and a [Function] share a name.
/// </summary>
public static class TaskNames
{
    public const string TrainDataset = "TrainDataset";
    public const string SegmentScan = "SegmentScan";

    public const string ListDatasetCases = "ListDatasetCases";
    public const string ValidateCases = "ValidateCases";
    public const string WriteManifest = "WriteManifest";
    public const string DispatchJob = "DispatchJob";
    public const string ReadJobStatus = "ReadJobStatus";
    public const string FailJob = "FailJob";
    public const string CommitJobOutputs = "CommitJobOutputs";
    public const string RegisterModel = "RegisterModel";
    public const string ValidateScan = "ValidateScan";
    public const string FindProductionModel = "FindProductionModel";
    public const string PublishScanResult = "PublishScanResult";
}
