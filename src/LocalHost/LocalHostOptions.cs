using GuidedNet.Pipeline.Options;

namespace GuidedNet.LocalHost;

/// <summary>The workstation host's own settings (section <c>LocalHost</c>).</summary>
public sealed class LocalHostOptions : IValidatedOptions
{
    public const string Section = "LocalHost";

    /// <summary>Durable task hub; give each run its own (letters and digits, 3 to 45 characters).</summary>
    public string TaskHub { get; set; } = "guidednetlocal";

    /// <summary>HTTP API port on 127.0.0.1 (the Functions routes under /api).</summary>
    public int ApiPort { get; set; } = 7071;

    /// <summary>Port of the durable backend's gRPC endpoint on 127.0.0.1 (0: API port + 1).</summary>
    public int GrpcPort { get; set; }

    /// <summary>When set, the host starts a GPU job worker process with this command line (e.g. "dotnet /path/guidednet.dll").</summary>
    public string? WorkerCommand { get; set; }

    /// <summary>
    /// Storage of the durable backend's queues and tables when it is not Storage:ConnectionString: a
    /// second Azurite. Azurite reads every message of every queue it holds on each queue request
    /// (docs/performance.md, "Pipeline: a batch of scans"), so on one Azurite a backlog of job messages
    /// slows every poll of the durable backend; on its own it also gets its own core.
    /// </summary>
    public string? DurableStorageConnectionString { get; set; }

    /// <summary>
    /// Orchestration episodes the durable backend runs at once. An episode mostly waits for storage round
    /// trips, so with 8 a batch of drops queued behind them (docs/performance.md, "Pipeline: a batch of scans").
    /// </summary>
    public int MaxConcurrentOrchestrations { get; set; } = 32;

    /// <summary>Activities the durable backend runs at once; each validation of a clinical-size scan holds ~50 MB while it runs.</summary>
    public int MaxConcurrentActivities { get; set; } = 8;

    /// <summary>Extra worker arguments (device, threads...).</summary>
    public string WorkerArguments { get; set; } = "";

    public int EffectiveGrpcPort => GrpcPort == 0 ? ApiPort + 1 : GrpcPort;

    public void Validate()
    {
        if (TaskHub.Length is < 3 or > 45 || !TaskHub.All(char.IsAsciiLetterOrDigit) || !char.IsAsciiLetter(TaskHub[0]))
            throw new ArgumentException($"{Section}:TaskHub '{TaskHub}' must be 3-45 letters and digits, starting with a letter");
        if (ApiPort is < 1 or > 65535 || EffectiveGrpcPort is < 1 or > 65535 || EffectiveGrpcPort == ApiPort)
            throw new ArgumentException($"{Section}: ApiPort and GrpcPort must be distinct ports");
        if (MaxConcurrentOrchestrations is < 1 or > 1000 || MaxConcurrentActivities is < 1 or > 1000)
            throw new ArgumentException($"{Section}: MaxConcurrentOrchestrations and MaxConcurrentActivities must be 1 to 1000");
    }
}
