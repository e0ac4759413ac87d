using static TorchSharp.torch;

namespace GuidedNet.Runtime;

/// <summary>
/// <c>torch.autograd.grad</c> that cannot abort the process. TorchSharp's native <c>THSAutograd_grad</c>
/// does not catch libtorch's errors, so "element 0 of tensors does not require grad" (a loss term
/// that is a constant because the batch holds nothing for it to learn from, e.g. no foreground)
/// terminated the whole training process. Here a term that does not depend on the inputs has zero
/// gradients, as it contributes nothing; an input the term does not use gets zeros too.
/// </summary>
public static class Gradients
{
    /// <summary>∂(Σ outputs·gradOutputs)/∂inputs, one tensor per input (zeros where there is no dependence).</summary>
    public static Tensor[] Of(IList<Tensor> outputs, IList<Tensor> inputs, IList<Tensor>? gradOutputs = null)
    {
        if (gradOutputs is not null)
        {
            if (gradOutputs.Count != outputs.Count)
                throw new ArgumentException($"{gradOutputs.Count} output gradients for {outputs.Count} outputs");
            for (int i = 0; i < outputs.Count; i++)
                if (!gradOutputs[i].shape.SequenceEqual(outputs[i].shape))
                    throw new ArgumentException($"output {i} has shape [{string.Join(", ", outputs[i].shape)}] but its gradient [{string.Join(", ", gradOutputs[i].shape)}]");
        }
        var dependent = Enumerable.Range(0, outputs.Count).Where(i => outputs[i].requires_grad).ToArray();
        var differentiable = Enumerable.Range(0, inputs.Count).Where(i => inputs[i].requires_grad).ToArray();
        var result = inputs.Select(i => (Tensor?)null).ToArray();
        if (dependent.Length > 0 && differentiable.Length > 0)
        {
            var computed = autograd.grad(
                dependent.Select(i => outputs[i]).ToList(), differentiable.Select(i => inputs[i]).ToList(),
                gradOutputs is null ? null : dependent.Select(i => gradOutputs[i]).ToList(), allow_unused: true);
            for (int k = 0; k < differentiable.Length; k++)
                result[differentiable[k]] = computed[k] is { IsInvalid: false } g ? g : null;
        }
        return result.Select((g, i) => g ?? zeros_like(inputs[i])).ToArray();
    }
}
