using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Security.Cryptography;
using System.Text;
using GuidedNet.Pipeline.Orchestrations;

namespace GuidedNet.Pipeline.Telemetry;

/// <summary>
/// The pipeline's traces and metrics, named once for every process that emits them (the local host,
/// the Functions app, the worker) and for the tests that read them.
/// <para>
/// One trace per run: a run's trace id is derived from its run id, so the host's activity spans and
/// the worker's job and stage spans land in the same trace without any context travelling in the
/// job message or the orchestration history (which replays, and must stay deterministic). Their
/// common parent is a span id derived from the run id too; no process emits that span, so
/// backends show the run as a trace whose top-level spans are its steps.
/// </para>
/// </summary>
public static class PipelineTelemetry
{
    public const string SourceName = "GuidedNet.Pipeline";

    public static readonly ActivitySource Source = new(SourceName, typeof(PipelineTelemetry).Assembly.GetName().Version?.ToString());
    public static readonly Meter Meter = new(SourceName, typeof(PipelineTelemetry).Assembly.GetName().Version?.ToString());

    /// <summary>Attribute names: semantic-convention style, one namespace.</summary>
    public static class Tags
    {
        public const string Run = "guidednet.run.id";
        public const string RunKind = "guidednet.run.kind";
        public const string Project = "guidednet.project";
        public const string Case = "guidednet.case";
        public const string Task = "guidednet.task";
        public const string Job = "guidednet.job.id";
        public const string JobKind = "guidednet.job.kind";
        public const string Attempt = "guidednet.job.attempt";
        public const string Worker = "guidednet.worker";
        public const string Outcome = "guidednet.outcome";
        public const string Stage = "guidednet.stage";
    }

    /// <summary>Scans that reached an end: segmented, quarantined or superseded (tag <see cref="Tags.Outcome"/>).</summary>
    public static readonly Counter<long> ScansProcessed = Meter.CreateCounter<long>("guidednet.scans.processed", "{scan}", "scans whose run reached an outcome");

    /// <summary>One job attempt on a worker, claim to last status (tags: job kind, outcome).</summary>
    public static readonly Histogram<double> JobDuration = Meter.CreateHistogram<double>("guidednet.job.duration", "s", "a job attempt from its claim to its last status");

    /// <summary>How long a job waited for a worker: queued to claimed (tag: job kind).</summary>
    public static readonly Histogram<double> QueueWait = Meter.CreateHistogram<double>("guidednet.job.queue_wait", "s", "a job from queued to claimed by a worker");

    private static ObservableGauge<long>? _memory;

    /// <summary>
    /// <c>guidednet.worker.memory</c>: this process's resident memory now and at its peak (tag
    /// <c>guidednet.memory</c> = current | peak), the figure a worker's container limit is sized by.
    /// </summary>
    public static void ObserveProcessMemory() =>
        _memory ??= Meter.CreateObservableGauge("guidednet.worker.memory", () =>
        {
            using var process = Process.GetCurrentProcess();
            return new[]
            {
                new Measurement<long>(process.WorkingSet64, new KeyValuePair<string, object?>("guidednet.memory", "current")),
                new Measurement<long>(process.PeakWorkingSet64, new KeyValuePair<string, object?>("guidednet.memory", "peak")),
            };
        }, "By", "resident memory of the worker process");

    /// <summary>The trace every span of <paramref name="runId"/> belongs to, with the run's (never emitted) span as parent.</summary>
    public static ActivityContext RunContext(string runId)
    {
        byte[] hash = SHA256.HashData(Encoding.UTF8.GetBytes(runId));
        return new ActivityContext(ActivityTraceId.CreateFromBytes(hash.AsSpan(0, 16)), ActivitySpanId.CreateFromBytes(hash.AsSpan(16, 8)),
            ActivityTraceFlags.Recorded, isRemote: true);
    }

    /// <summary>A span in the run's trace, tagged with what the run id says (kind, project or dataset, case); null when nobody listens.</summary>
    public static Activity? StartRunSpan(string name, string runId, ActivityKind kind = ActivityKind.Internal)
    {
        var span = Source.StartActivity(name, kind, RunContext(runId));
        if (span is null) return null;
        span.SetTag(Tags.Run, runId);
        if (RunIds.JobKindOf(runId) is { } jobKind)
        {
            var (named, caseName) = RunIds.NamesOf(runId);
            span.SetTag(Tags.RunKind, jobKind == Jobs.JobKind.Train ? "train" : "scan");
            span.SetTag(Tags.Project, named);
            if (caseName is not null) span.SetTag(Tags.Case, caseName);
        }
        return span;
    }

    /// <summary>
    /// A stage that already happened (its length measured by the code that ran it), recorded as a
    /// child of <paramref name="parent"/> ending now.
    /// </summary>
    public static void RecordStage(string stage, TimeSpan duration, ActivityContext parent)
    {
        var end = DateTimeOffset.UtcNow;
        using var span = Source.StartActivity("stage " + stage, ActivityKind.Internal, parent, startTime: end - duration);
        if (span is null) return;
        span.SetTag(Tags.Stage, stage);
        span.SetEndTime(end.UtcDateTime);
    }
}
