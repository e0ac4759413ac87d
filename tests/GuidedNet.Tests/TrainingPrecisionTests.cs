using System.Text.Json;
using GuidedNet.Data;
using GuidedNet.Models;
using GuidedNet.Training;
using static TorchSharp.torch;

namespace GuidedNet.Tests;

/// <summary>Training in bf16 (bf16 working copies of fp32 master weights) and the precision setting's rules.</summary>
[Collection(GlobalRandomCollection.Name)]
public class TrainingPrecisionTests(PhantomDatasetFixture fixture) : IClassFixture<PhantomDatasetFixture>
{
    private static TrainingOptions Tiny(string precision) => new()
    {
        // Width 8: every convolution from the second level on has 16·k input channels, so bf16 computes most of the network
        // (UNet3D.ToLowPrecision); small, because this assembly runs ATen's bf16 kernels, not oneDNN's.
        Iterations = 4, Patch = [16, 16, 16], BatchSize = 4, LabeledBatchSize = 2, BaseChannels = 8, LabeledCases = 3,
        ValidationFraction = 0.3, ValidateEvery = 4, CheckpointEvery = 2, Seed = 7, Precision = precision,
    };

    private static JsonElement TrainingJson(string folder) => JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "training.json"))).RootElement;

    private static double[] Totals(string folder) => TrainingJson(folder).GetProperty("history").GetProperty("iterations").EnumerateArray()
        .Select(e => e.GetProperty("losses").GetProperty("total").GetDouble()).ToArray();

    [Fact]
    public void Bf16_training_follows_fp32_keeps_fp32_masters_and_resumes_exactly()
    {
        var dataset = MsdDataset.Open(fixture.Dataset);
        var data = TrainingData.Prepare(dataset, Tiny("fp32"), fixture.Folder.File("cache"));
        string fp32 = fixture.Folder.File("precision-fp32"), bf16 = fixture.Folder.File("precision-bf16"), resumed = fixture.Folder.File("precision-bf16-resumed");
        using (var trainer = new Trainer(Tiny("fp32"), data, CPU, fp32, dataset.LabelNames)) Assert.True(trainer.Run(resume: false).Completed);
        using (var trainer = new Trainer(Tiny("bf16"), data, CPU, bf16, dataset.LabelNames)) Assert.True(trainer.Run(resume: false).Completed);

        // The same batches and initial weights: the first step's loss differs by rounding only.
        double[] exact = Totals(fp32), low = Totals(bf16);
        Assert.Equal(4, low.Length);
        Assert.All(low, v => Assert.True(double.IsFinite(v)));
        Assert.True(Math.Abs(low[0] - exact[0]) <= 0.02 * exact[0], $"first loss {low[0]} in bf16 against {exact[0]} in fp32");
        Assert.NotEqual(exact[0], low[0]); // bf16 did compute the step
        Assert.Equal("bf16", TrainingJson(bf16).GetProperty("settings").GetProperty("precision").GetString());

        // The model holds the fp32 masters, which predict loads as any model.
        using (var model = ModelFile.Load(Path.Combine(bf16, Trainer.ModelFileName), CPU))
            Assert.All(model.Networks.SelectMany(n => n.parameters()), p => Assert.Equal(ScalarType.Float32, p.dtype));

        // The working copies are made from the masters every step, so a resumed run is the uninterrupted one.
        using (var cancel = new CancellationTokenSource())
        using (var trainer = new Trainer(Tiny("bf16"), data, CPU, resumed, dataset.LabelNames))
            Assert.False(trainer.Run(resume: false, new StopAt(2, cancel.Cancel), cancel.Token).Completed);
        using (var trainer = new Trainer(Tiny("bf16"), data, CPU, resumed, dataset.LabelNames)) Assert.True(trainer.Run(resume: true).Completed);
        Assert.Equal(low, Totals(resumed));
    }

    [Fact]
    public void Tf32_is_refused_off_cuda_and_unknown_precisions_are_refused_by_name()
    {
        var dataset = MsdDataset.Open(fixture.Dataset);
        var data = TrainingData.Prepare(dataset, Tiny("fp32"), fixture.Folder.File("cache"));
        var tf32 = Assert.Throws<TrainingSettingException>(() => new Trainer(Tiny("tf32"), data, CPU, fixture.Folder.File("tf32"), dataset.LabelNames));
        Assert.Equal("precision", tf32.Field);
        Assert.Contains("CUDA", tf32.Message);
        var fp16 = Assert.Throws<TrainingSettingException>(() => Tiny("fp16").Validate());
        Assert.Equal("precision", fp16.Field);
    }

    private sealed class StopAt(int iteration, Action stop) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value)
        {
            if (value.Iteration == iteration) stop();
        }
    }
}
