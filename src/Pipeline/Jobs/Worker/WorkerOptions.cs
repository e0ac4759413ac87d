using GuidedNet.Pipeline.Options;

namespace GuidedNet.Pipeline.Jobs.Worker;

/// <summary>The worker's own settings (section <c>Worker</c>; environment <c>Worker__Name</c> etc.).</summary>
public sealed class WorkerOptions : IValidatedOptions
{
    public const string Section = "Worker";

    /// <summary>Shown in status.json; defaults to host name and process id.</summary>
    public string Name { get; set; } = $"{Environment.MachineName}-{Environment.ProcessId}";

    /// <summary>Local scratch space for downloads, preprocessing caches and checkpoints.</summary>
    public string WorkFolder { get; set; } = Path.Combine(Path.GetTempPath(), "guidednet-worker");

    /// <summary>
    /// Disk the work folder may use (job folders and cached models, least recently used evicted
    /// first); default 50 GB. A running job's folder and the loaded model are never evicted, so a
    /// single job larger than the budget still runs.
    /// </summary>
    public long DiskBudgetBytes { get; set; } = 50_000_000_000;

    public string Device { get; set; } = "auto";
    public int Threads { get; set; }

    /// <summary>Let CPU convolutions use oneDNN (see GuidedNet.Runtime.ComputeOptions.UseOneDnn).</summary>
    public bool UseOneDnn { get; set; } = true;

    /// <summary>
    /// Segment with the average of both networks of a GuidedNet/CPS model (<c>predict --ensemble</c>)
    /// instead of the network validation preferred: about twice the compute per scan.
    /// </summary>
    public bool Ensemble { get; set; }

    /// <summary>
    /// Fast prediction for every scan (<c>predict --fast</c>): <c>fast</c> (the parts each model's
    /// calibration chose), or parts such as <c>bf16,body</c>; unset, masks are exact. Each report.json says how its mask was computed.
    /// </summary>
    public string? Fast { get; set; }

    /// <summary>How often a running attempt confirms its claim in status.json; a superseded claim stops within one interval.</summary>
    public TimeSpan Heartbeat { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Exit after this long without messages (Container Apps jobs: one replica per burst); zero waits forever.</summary>
    public TimeSpan IdleExit { get; set; } = TimeSpan.Zero;

    /// <summary>Wait between empty receives.</summary>
    public TimeSpan EmptyPoll { get; set; } = TimeSpan.FromSeconds(1);

    public void Validate()
    {
        if (Heartbeat <= TimeSpan.Zero || Heartbeat > TimeSpan.FromSeconds(10)) throw new ArgumentException($"{Section}:Heartbeat must be within (0, 10 s]");
        if (IdleExit < TimeSpan.Zero) throw new ArgumentException($"{Section}:IdleExit must not be negative");
        if (DiskBudgetBytes <= 0) throw new ArgumentException($"{Section}:DiskBudgetBytes must be positive");
        if (string.IsNullOrWhiteSpace(WorkFolder)) throw new ArgumentException($"{Section}:WorkFolder is empty");
    }
}
