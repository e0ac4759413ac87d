using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace GuidedNet.Runtime;

/// <summary>
/// Direct access to the memory of contiguous CPU tensors, for the few loops that run in C#
/// (TorchSharp exposes element accessors, not the data pointer).
/// </summary>
internal static class TensorMemory
{
    [DllImport("LibTorchSharp")]
    private static extern IntPtr THSTensor_data(IntPtr handle);

    /// <summary>The address of element 0; the tensor must be a contiguous CPU tensor of <paramref name="type"/>.</summary>
    public static IntPtr Address(Tensor tensor, ScalarType type, string name)
    {
        if (tensor.device_type != DeviceType.CPU || tensor.dtype != type || !tensor.is_contiguous())
            throw new ArgumentException($"{name}: a contiguous {type} CPU tensor is needed, got {tensor.dtype} on {tensor.device} (contiguous: {tensor.is_contiguous()})");
        return THSTensor_data(tensor.Handle);
    }
}
