using GuidedNet.Models;
using GuidedNet.Imaging.Numpy;
using GuidedNet.TestSupport;
using static TorchSharp.torch;

namespace GuidedNet.Tests;

public class NetworkParityTests
{
    [Fact]
    public void Authors_state_dict_reproduces_their_logits_and_features()
    {
        using var model = ModelFile.Load(Reference.File("unet_gmm_k14.pth"), CPU);
        Assert.Equal(14, model.Metadata.NumClasses);
        Assert.Equal(16, model.Metadata.BaseChannels);
        var input = Reference.Npy("net_input");
        var expectedPred = Reference.Npy("net_pred");
        var expectedRep = Reference.Npy("net_rep");
        using var scope = NewDisposeScope();
        using var _ = inference_mode();
        var x = tensor(input.AsFloat(), input.Shape);
        var (logits, features) = model.Network.forward(x);
        Assert.Equal(expectedPred.Shape, logits.shape);
        Assert.Equal(expectedRep.Shape, features.shape);
        double predError = MaxAbsDifference(logits, expectedPred);
        double repError = MaxAbsDifference(features, expectedRep);
        Assert.True(predError <= 1e-4, $"logits differ by up to {predError}");
        Assert.True(repError <= 1e-4, $"features differ by up to {repError}");
    }

    [Fact]
    public void Own_model_file_round_trips_weights_and_metadata()
    {
        using var tmp = new TempFolder();
        using var source = ModelFile.Load(Reference.File("unet_gmm_k14.pth"), CPU);
        var metadata = source.Metadata with { Preset = "flare22", Patch = new[] { 16, 32, 32 }, ClassNames = Enumerable.Range(0, 14).Select(i => $"c{i}").ToArray() };
        string path = tmp.File("model.guidednet");
        ModelFile.Save(path, metadata, source.Network);
        using var loaded = ModelFile.Load(path, CPU);
        Assert.Equal("flare22", loaded.Metadata.Preset);
        Assert.Equal(new[] { 16, 32, 32 }, loaded.Metadata.Patch);
        Assert.Equal("c13", loaded.Metadata.ClassNames![13]);
        Assert.Equal(2.5, loaded.Plan().TargetSpacing!.Value.Z);
        var a = source.Network.state_dict();
        var b = loaded.Network.state_dict();
        Assert.Equal(a.Keys.OrderBy(k => k), b.Keys.OrderBy(k => k));
        foreach (var key in a.Keys) Assert.True(a[key].allclose(b[key], 0, 0), $"{key} changed");
    }

    [Fact]
    public void A_file_that_is_not_a_model_is_refused_with_its_name()
    {
        using var tmp = new TempFolder();
        string path = tmp.File("notes.pth");
        File.WriteAllText(path, "not a checkpoint");
        var e = Assert.ThrowsAny<Exception>(() => ModelFile.Load(path, CPU));
        Assert.Contains(path, e.Message);
    }

    internal static double MaxAbsDifference(Tensor actual, NpyArray expected)
    {
        var values = actual.contiguous().cpu().data<float>().ToArray();
        Assert.Equal(expected.Count, values.LongLength);
        double max = 0;
        for (long i = 0; i < values.LongLength; i++) max = Math.Max(max, Math.Abs(values[i] - expected.Values[i]));
        return max;
    }
}
