using GuidedNet.Pipeline.Activities;
using GuidedNet.Pipeline.Jobs;
using GuidedNet.Pipeline.Jobs.Transport;
using GuidedNet.Pipeline.Options;
using GuidedNet.Pipeline.Storage;
using GuidedNet.Pipeline.Telemetry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace GuidedNet.Functions;

/// <summary>The Functions host: configuration bound and validated at start-up, the pipeline's services registered.</summary>
public static class FunctionsApp
{
    public static IHost CreateHost(string[] args) =>
        new HostBuilder()
            .ConfigureFunctionsWorkerDefaults()
            .ConfigureAppConfiguration(c => c.AddCommandLine(args))
            .ConfigureServices((context, services) => AddPipeline(services, context.Configuration))
            .Build();

    /// <summary>Binds and validates every options area and registers the pipeline; a bad setting stops start-up with its name.</summary>
    public static void AddPipeline(IServiceCollection services, IConfiguration configuration)
    {
        var storage = configuration.GetValidated<StorageOptions>(StorageOptions.Section);
        var jobs = configuration.GetValidated<JobOptions>(JobOptions.Section);
        var promotion = configuration.GetValidated<PromotionOptions>(PromotionOptions.Section);
        var pool = configuration.GetValidated<PoolOptions>(PoolOptions.Section);
        configuration.GetValidated<ScheduleOptions>(ScheduleOptions.Section);
        // The pipeline's spans (one trace per run: activities here, job and stages on the worker) and metrics, to Application Insights.
        services.AddPipelineTelemetry(TelemetryOptions.FromConfiguration(configuration), "guidednet-functions");
        services.AddSingleton(storage).AddSingleton(jobs).AddSingleton(promotion).AddSingleton(pool);
        services.AddSingleton(_ => PipelineStorage.Create(storage));
        services.AddSingleton<JobStore>();
        services.AddSingleton<IJobQueue>(_ => JobQueue.Create(jobs, storage));
        services.AddSingleton(TimeProvider.System);
        foreach (var activity in new[]
                 {
                     typeof(ListDatasetCasesActivity), typeof(ValidateCasesActivity), typeof(WriteManifestActivity), typeof(DispatchJobActivity),
                     typeof(ReadJobStatusActivity), typeof(FailJobActivity), typeof(CommitJobOutputsActivity), typeof(RegisterModelActivity), typeof(ValidateScanActivity),
                     typeof(FindProductionModelActivity), typeof(PublishScanResultActivity),
                 })
            services.AddTransient(activity);
    }
}
