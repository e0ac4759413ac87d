using System.Diagnostics;
using GuidedNet.Pipeline.Activities;
using GuidedNet.Pipeline.Contracts;
using GuidedNet.Pipeline.Jobs;
using GuidedNet.Pipeline.Orchestrations;
using GuidedNet.Pipeline.Storage;
using GuidedNet.Pipeline.Telemetry;
using GuidedNet.Pipeline.Tests.Infrastructure;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace GuidedNet.Pipeline.Tests;

/// <summary>
/// The pipeline's telemetry, read with OpenTelemetry's in-memory exporter: one scan run on the
/// in-memory durable host with an in-process worker is one trace, from the host's activities to the
/// worker's job and its stages, with the run's attributes; the metrics count it.
/// </summary>
public sealed class TelemetryTests(Azurite azurite) : IClassFixture<Azurite>
{
    [Fact]
    public async Task One_scan_run_is_one_trace_across_activities_job_and_stages_and_is_counted()
    {
        var spans = new List<Activity>();
        var metrics = new List<Metric>();
        using var tracer = Sdk.CreateTracerProviderBuilder().AddSource(PipelineTelemetry.SourceName).AddInMemoryExporter(spans).Build();
        using var meter = Sdk.CreateMeterProviderBuilder().AddMeter(PipelineTelemetry.SourceName).AddInMemoryExporter(metrics).Build();

        await using var p = await InProcessPipeline.StartAsync(azurite);
        p.StartWorker("traced");
        string project = InProcessPipeline.UniqueName("traced");
        await p.Storage.WriteJsonAsync(BlobLayout.Production(project), new ProductionModel(project, "v0", $"models/{project}/v0/model.guidednet", 0.5,
            $"datasets/{project}/manifests/v0.json", DateTime.UtcNow, new TrainRequest()));
        string path = BlobLayout.IncomingScan(project, "ct-1.nii.gz");
        await p.UploadScanAsync(path, seed: 4);
        string run = (await p.NewDropZone(project).StartAsync((await p.Storage.GetAsync(path))!))!;
        Assert.Equal(OrchestrationRuntimeStatus.Completed, (await p.WaitForRunAsync(run)).RuntimeStatus);
        tracer.ForceFlush();
        meter.ForceFlush();

        // Other tests' runs may share the process: this run's spans are those of its trace.
        var traceId = PipelineTelemetry.RunContext(run).TraceId;
        List<Activity> ofRun;
        lock (spans) ofRun = spans.Where(s => s.TraceId == traceId).ToList();
        var names = ofRun.Select(s => s.DisplayName).ToHashSet();
        foreach (string expected in new[]
                 {
                     "activity " + TaskNames.ValidateScan, "activity " + TaskNames.FindProductionModel, "activity " + TaskNames.DispatchJob,
                     "activity " + TaskNames.CommitJobOutputs, "activity " + TaskNames.PublishScanResult, "job predict", "stage " + JobPhases.Downloading,
                 })
            Assert.Contains(expected, names);
        Assert.All(ofRun.Where(s => s.DisplayName.StartsWith("activity ", StringComparison.Ordinal)), s =>
        {
            Assert.Equal(run, s.GetTagItem(PipelineTelemetry.Tags.Run));
            Assert.Equal(project, s.GetTagItem(PipelineTelemetry.Tags.Project));
            Assert.Equal("ct-1", s.GetTagItem(PipelineTelemetry.Tags.Case));
            Assert.Equal("scan", s.GetTagItem(PipelineTelemetry.Tags.RunKind));
            Assert.Equal(PipelineTelemetry.RunContext(run).SpanId, s.ParentSpanId);
        });
        var job = Assert.Single(ofRun, s => s.DisplayName == "job predict");
        Assert.Equal(ActivityKind.Consumer, job.Kind);
        Assert.Equal(JobIds.For(run, JobKind.Predict), job.GetTagItem(PipelineTelemetry.Tags.Job));
        Assert.Equal("traced", job.GetTagItem(PipelineTelemetry.Tags.Worker));
        Assert.Equal("succeeded", job.GetTagItem(PipelineTelemetry.Tags.Outcome));
        var stage = Assert.Single(ofRun, s => s.DisplayName == "stage " + JobPhases.Downloading);
        Assert.Equal(job.SpanId, stage.ParentSpanId);
        Assert.True(stage.StartTimeUtc >= job.StartTimeUtc && stage.StartTimeUtc + stage.Duration <= job.StartTimeUtc + job.Duration);

        // The metrics: the scan counted as segmented, the job's duration and queue wait recorded.
        List<Metric> exported;
        lock (metrics) exported = metrics.ToList();
        Assert.True(Sum(exported, "guidednet.scans.processed", PipelineTelemetry.Tags.Outcome, ScanRunStates.Segmented) >= 1);
        Assert.True(Count(exported, "guidednet.job.duration") >= 1);
        Assert.True(Count(exported, "guidednet.job.queue_wait") >= 1);
    }

    [Fact]
    public void A_jobs_phases_are_stage_spans_and_its_measured_parts_are_spans_within_their_phase()
    {
        var spans = new List<Activity>();
        using var tracer = Sdk.CreateTracerProviderBuilder().AddSource(PipelineTelemetry.SourceName).AddInMemoryExporter(spans).Build();
        string run = RunIds.ScanPrefix("p", "c") + Guid.NewGuid().ToString("N")[..16];
        using (var job = PipelineTelemetry.StartRunSpan("job predict", run, ActivityKind.Consumer)!)
        {
            var progress = new GuidedNet.Pipeline.Jobs.Worker.JobProgress();
            progress.Trace(job.Context);
            progress.Phase(JobPhases.Downloading);
            progress.Phase(JobPhases.Predicting);
            progress.AddTiming("preprocess", 0.25);
            progress.AddTiming("model", 1.5);
            Assert.Same(job, Activity.Current); // stages never take over the flow's current span
            progress.Phase(JobPhases.Uploading);
            progress.EndTrace();
        }
        tracer.ForceFlush();
        List<Activity> ofRun;
        lock (spans) ofRun = spans.Where(s => s.TraceId == PipelineTelemetry.RunContext(run).TraceId).ToList();
        var byName = ofRun.ToDictionary(s => s.DisplayName);
        var jobSpan = byName["job predict"];
        foreach (string phase in new[] { JobPhases.Downloading, JobPhases.Predicting, JobPhases.Uploading })
            Assert.Equal(jobSpan.SpanId, byName["stage " + phase].ParentSpanId);
        Assert.Equal(byName["stage " + JobPhases.Predicting].SpanId, byName["stage model"].ParentSpanId);
        Assert.Equal(1.5, byName["stage model"].Duration.TotalSeconds, 3);
        Assert.Equal("preprocess", byName["stage preprocess"].GetTagItem(PipelineTelemetry.Tags.Stage));
        Assert.True(byName["stage " + JobPhases.Uploading].Duration >= TimeSpan.Zero);
    }

    [Fact]
    public void The_workers_console_lines_become_log_records_and_still_reach_the_console()
    {
        var records = new List<OpenTelemetry.Logs.LogRecord>();
        using (var logs = LoggerFactory.Create(b => b.AddOpenTelemetry(l => l.AddInMemoryExporter(records))))
        {
            var console = new StringWriter();
            var writer = new LoggedTextWriter(console, logs.CreateLogger("guidednet-worker"));
            writer.WriteLine("worker w1: storagequeue queue 'jobs'");
            writer.Write("job-1: predict ");
            writer.Write("attempt 1\r\n");
            writer.Write("partial");
            Assert.Equal("worker w1: storagequeue queue 'jobs'" + Environment.NewLine + "job-1: predict attempt 1\r\npartial", console.ToString());
        }
        var lines = records.Select(r => r.Attributes!.Single(a => a.Key == "Line").Value as string).ToList();
        Assert.Equal(["worker w1: storagequeue queue 'jobs'", "job-1: predict attempt 1"], lines); // a line is logged when it is complete
        Assert.All(records, r => Assert.Equal("guidednet-worker", r.CategoryName));
    }

    [Theory]
    [InlineData(null, null, "")]
    [InlineData(null, "InstrumentationKey=00000000-0000-0000-0000-000000000000", "azuremonitor")]
    [InlineData("console,otlp", null, "console,otlp")]
    [InlineData("none", "InstrumentationKey=00000000-0000-0000-0000-000000000000", "")]
    public void Exporters_default_to_application_insights_where_its_connection_string_is_set(string? exporters, string? connection, string expected)
    {
        var options = new TelemetryOptions { Exporters = exporters, ApplicationInsightsConnectionString = connection };
        options.Validate();
        Assert.Equal(expected, string.Join(",", options.EffectiveExporters));
    }

    [Fact]
    public void A_bad_telemetry_setting_is_refused_by_name()
    {
        Assert.Contains("unknown exporter jaeger", Assert.Throws<ArgumentException>(() => new TelemetryOptions { Exporters = "console,jaeger" }.Validate()).Message);
        Assert.Contains("APPLICATIONINSIGHTS_CONNECTION_STRING", Assert.Throws<ArgumentException>(() => new TelemetryOptions { Exporters = "azuremonitor" }.Validate()).Message);
        Assert.Contains("Telemetry:OtlpEndpoint", Assert.Throws<ArgumentException>(() => new TelemetryOptions { OtlpEndpoint = "not a url" }.Validate()).Message);
    }

    private static long Sum(IEnumerable<Metric> metrics, string name, string tag, string value)
    {
        long sum = 0;
        foreach (var metric in metrics.Where(m => m.Name == name))
            foreach (ref readonly var point in metric.GetMetricPoints())
                foreach (var t in point.Tags)
                    if (t.Key == tag && Equals(t.Value, value))
                        sum = Math.Max(sum, point.GetSumLong()); // cumulative: the latest export holds the total
        return sum;
    }

    private static long Count(IEnumerable<Metric> metrics, string name)
    {
        long count = 0;
        foreach (var metric in metrics.Where(m => m.Name == name))
            foreach (ref readonly var point in metric.GetMetricPoints())
                count = Math.Max(count, point.GetHistogramCount());
        return count;
    }
}
