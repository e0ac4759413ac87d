using Azure.Identity;
using Azure.Monitor.OpenTelemetry.Exporter;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace GuidedNet.Pipeline.Telemetry;

/// <summary>
/// The exporters <see cref="TelemetryOptions"/> names, added to traces, metrics and logs alike: for
/// a host with services (<see cref="AddPipelineTelemetry"/>: the local host, the Functions app) and for the worker, which has none
/// (<see cref="StartStandalone"/>).
/// </summary>
public static class TelemetryExporters
{
    /// <summary>Traces and metrics of <see cref="PipelineTelemetry"/> (and logs) as <paramref name="service"/>; nothing when no exporter is configured.</summary>
    public static IServiceCollection AddPipelineTelemetry(this IServiceCollection services, TelemetryOptions options, string service)
    {
        if (options.EffectiveExporters.Count == 0) return services;
        services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(service))
            .WithTracing(t => Exporters(t.AddSource(PipelineTelemetry.SourceName), options))
            .WithMetrics(m => Exporters(m.AddMeter(PipelineTelemetry.SourceName), options));
        // Logs go to the backends; on the console they are already printed by the console logger.
        var remote = options.EffectiveExporters.Where(e => e != TelemetryOptions.Console).ToList();
        if (remote.Count == 0) return services;
        services.AddLogging(logging => logging.AddOpenTelemetry(l =>
        {
            l.SetResourceBuilder(ResourceBuilder.CreateDefault().AddService(service));
            l.IncludeFormattedMessage = true;
            foreach (string exporter in remote)
                if (exporter == TelemetryOptions.Otlp) l.AddOtlpExporter(o => Otlp(o, options));
                else l.AddAzureMonitorLogExporter(o => AzureMonitor(o, options));
        }));
        return services;
    }

    /// <summary>
    /// Providers for a process without a service container (the worker); disposing them flushes
    /// what is buffered. Its <see cref="StandaloneTelemetry.Console"/> is the process's console,
    /// whose lines are also logs where a backend takes them.
    /// </summary>
    public static StandaloneTelemetry StartStandalone(TelemetryOptions options, string service, TextWriter console)
    {
        if (options.EffectiveExporters.Count == 0) return new StandaloneTelemetry(console, []);
        var resource = ResourceBuilder.CreateDefault().AddService(service);
        var tracer = Exporters(Sdk.CreateTracerProviderBuilder().SetResourceBuilder(resource).AddSource(PipelineTelemetry.SourceName), options).Build();
        var meter = Exporters(Sdk.CreateMeterProviderBuilder().SetResourceBuilder(resource).AddMeter(PipelineTelemetry.SourceName), options).Build();
        var remote = options.EffectiveExporters.Where(e => e != TelemetryOptions.Console).ToList();
        if (remote.Count == 0) return new StandaloneTelemetry(console, [tracer, meter]);
        var logs = LoggerFactory.Create(b => b.AddOpenTelemetry(l =>
        {
            l.SetResourceBuilder(resource);
            foreach (string exporter in remote)
                if (exporter == TelemetryOptions.Otlp) l.AddOtlpExporter(o => Otlp(o, options));
                else l.AddAzureMonitorLogExporter(o => AzureMonitor(o, options));
        }));
        return new StandaloneTelemetry(new LoggedTextWriter(console, logs.CreateLogger(service)), [tracer, meter, logs]);
    }

    private static TracerProviderBuilder Exporters(TracerProviderBuilder builder, TelemetryOptions options)
    {
        foreach (string exporter in options.EffectiveExporters)
            builder = exporter switch
            {
                TelemetryOptions.Console => builder.AddConsoleExporter(),
                TelemetryOptions.Otlp => builder.AddOtlpExporter(o => Otlp(o, options)),
                _ => builder.AddAzureMonitorTraceExporter(o => AzureMonitor(o, options)),
            };
        return builder;
    }

    private static MeterProviderBuilder Exporters(MeterProviderBuilder builder, TelemetryOptions options)
    {
        foreach (string exporter in options.EffectiveExporters)
            builder = exporter switch
            {
                TelemetryOptions.Console => builder.AddConsoleExporter(),
                TelemetryOptions.Otlp => builder.AddOtlpExporter(o => Otlp(o, options)),
                _ => builder.AddAzureMonitorMetricExporter(o => AzureMonitor(o, options)),
            };
        return builder;
    }

    private static void Otlp(OtlpExporterOptions o, TelemetryOptions options)
    {
        if (options.OtlpEndpoint is { Length: > 0 } endpoint) o.Endpoint = new Uri(endpoint);
    }

    private static void AzureMonitor(AzureMonitorExporterOptions o, TelemetryOptions options)
    {
        o.ConnectionString = options.ApplicationInsightsConnectionString;
        // The Application Insights resource takes Entra ID tokens only (Bicep): send with the managed identity.
        if (options.UsesEntraId) o.Credential = new DefaultAzureCredential();
    }

    /// <summary>What <see cref="StartStandalone"/> started: the console to print to, and the providers to flush at exit.</summary>
    public sealed class StandaloneTelemetry(TextWriter console, IReadOnlyList<IDisposable> providers) : IDisposable
    {
        public TextWriter Console { get; } = console;

        public void Dispose()
        {
            Console.Flush();
            foreach (var provider in providers) provider.Dispose();
        }
    }
}
