using GuidedNet.Pipeline.Contracts;
using GuidedNet.Pipeline.Storage;
using GuidedNet.Pipeline.Tests.Infrastructure;

namespace GuidedNet.PipelineBenchmark;

/// <summary>The benchmarks' pipeline: the test harness with the product's poll and monitor settings instead of the tests' short ones.</summary>
public static class ProductPipeline
{
    /// <summary>
    /// Drop-zone poll 0.5 s, monitor poll interval 5 s, heartbeat timeout 2 min, oneDNN convolutions, the durable
    /// backend in its own Azurite (unless <paramref name="separateDurableStorage"/> is false): what a user runs with.
    /// </summary>
    public static PipelineHarness Create(string name, bool separateDurableStorage = true)
    {
        var pipeline = new PipelineHarness(name, separateDurableStorage);
        pipeline.Settings["Schedule__DropZonePoll"] = "00:00:00.500";
        pipeline.Settings["Jobs__PollInterval"] = "00:00:05";
        pipeline.Settings["Jobs__HeartbeatTimeout"] = "00:02:00";
        // The tests' workers convolve without oneDNN (its backward is not reproducible on the CI
        // machines); the product's use it, and without it a reference-size network's 3D
        // convolutions unfold their input (~11 GB and 4x the time for a CT, measured).
        pipeline.Settings["Worker__UseOneDnn"] = "true";
        return pipeline;
    }

    /// <summary>Trains the harness's tiny model on the dataset already uploaded under <paramref name="project"/> and waits until it is in production.</summary>
    public static async Task TrainModelAsync(PipelineHarness pipeline, string project)
    {
        await pipeline.WaitForRunAsync(await pipeline.StartTrainingAsync(project, PipelineHarness.TinyTraining()), TimeSpan.FromMinutes(10));
        await pipeline.WaitForAsync(() => pipeline.Storage.ReadJsonAsync<ProductionModel>(BlobLayout.Production(project)), TimeSpan.FromMinutes(1), "the production model");
    }
}
