using GuidedNet.Runtime;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace GuidedNet.Network;

/// <summary>
/// Activation checkpointing (TorchSharp has no torch.utils.checkpoint): runs a block without
/// keeping what its backward needs, and in backward runs it again with gradients on to get them.
/// The node keeps only the block's input. Its inputs are the block's input and parameters, so that
/// it is part of the graph even when the input needs no gradient, and it returns the parameters'
/// gradients itself. Only for deterministic blocks (no dropout): the recomputation must equal the
/// forward pass. TorchSharp allocates an output-sized buffer per custom node, so it pays off where a
/// block keeps several tensors of its output's size.
/// </summary>
public sealed class ActivationCheckpoint : autograd.SingleTensorFunction<ActivationCheckpoint>
{
    private const string BlockKey = "block";

    public override string Name => nameof(ActivationCheckpoint);

    public static Tensor Run(Module<Tensor, Tensor> block, Tensor input)
    {
        if (!is_grad_enabled()) return block.forward(input);
        var arguments = new List<object> { block, input };
        arguments.AddRange(block.parameters().Where(p => p.requires_grad));
        return apply(arguments.ToArray());
    }

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var block = (Module<Tensor, Tensor>)vars[0];
        var input = (Tensor)vars[1];
        ctx.save_data(BlockKey, block);
        ctx.save_for_backward(new List<Tensor> { input });
        using var noGrad = no_grad();
        return block.forward(input);
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        var block = (Module<Tensor, Tensor>)ctx.get_data(BlockKey);
        var saved = ctx.get_saved_variables()[0];
        var parameters = block.parameters().Where(p => p.requires_grad).ToList();
        using var grad = enable_grad();
        using var scope = NewDisposeScope();
        var input = saved.detach().requires_grad_(saved.requires_grad);
        var output = block.forward(input);
        var targets = new List<Tensor>();
        if (input.requires_grad) targets.Add(input);
        targets.AddRange(parameters);
        var gradients = Gradients.Of(new[] { output }, targets, new[] { gradOutput });
        var result = new List<Tensor> { null!, input.requires_grad ? gradients[0].MoveToOuterDisposeScope() : null! };
        result.AddRange(gradients.Skip(input.requires_grad ? 1 : 0).Select(g => g.MoveToOuterDisposeScope()));
        return result;
    }
}
