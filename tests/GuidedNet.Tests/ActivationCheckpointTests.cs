using GuidedNet.Network;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace GuidedNet.Tests;

/// <summary>A recomputed block gives the same output and the same gradients as the block itself.</summary>
[Collection(GlobalRandomCollection.Name)]
public class ActivationCheckpointTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Recomputed_block_matches_the_plain_block(bool inputNeedsGradient)
    {
        using var scope = NewDisposeScope();
        manual_seed(3);
        var block = Sequential(
            ("0", Conv3d(2, 4, 3, padding: 1)), ("1", InstanceNorm3d(4)), ("2", ReLU()),
            ("3", Conv3d(4, 4, 3, padding: 1)), ("4", InstanceNorm3d(4)), ("5", ReLU()));
        var input = randn(new long[] { 2, 2, 4, 6, 6 });
        var weight = randn(new long[] { 2, 4, 4, 6, 6 });

        (Tensor Output, Tensor[] Gradients) Run(bool recompute)
        {
            var x = input.clone().requires_grad_(inputNeedsGradient);
            foreach (var p in block.parameters()) p.grad?.zero_();
            var output = recompute ? ActivationCheckpoint.Run(block, x) : block.forward(x);
            (output * weight).sum().backward();
            var gradients = block.parameters().Select(p => p.grad!.clone()).ToList();
            if (inputNeedsGradient) gradients.Add(x.grad!.clone());
            return (output.detach(), gradients.ToArray());
        }

        var plain = Run(recompute: false);
        var recomputed = Run(recompute: true);
        Assert.True(recomputed.Output.allclose(plain.Output, 1e-6, 1e-6));
        Assert.Equal(plain.Gradients.Length, recomputed.Gradients.Length);
        Assert.Equal(inputNeedsGradient ? 5 : 4, plain.Gradients.Length);
        for (int i = 0; i < plain.Gradients.Length; i++)
        {
            Assert.True(plain.Gradients[i].abs().max().item<float>() > 0, $"gradient {i} is zero");
            Assert.True(recomputed.Gradients[i].allclose(plain.Gradients[i], 1e-5, 1e-6), $"gradient {i} differs");
        }
    }
}
