using TorchSharp;
using static TorchSharp.torch;

namespace GuidedNet.Inference;

/// <summary>The number format the network computes in during prediction; stitching and softmax stay fp32.</summary>
public enum InferencePrecision
{
    /// <summary>Exact: the same arithmetic as training and the reference.</summary>
    Float32,

    /// <summary>bfloat16 weights and activations: fp32's range with an 8-bit mantissa.</summary>
    BFloat16,

    /// <summary>float16 (CUDA only): more mantissa than bf16, less range.</summary>
    Float16,
}

public static class InferencePrecisions
{
    public static string Name(this InferencePrecision precision) => precision switch
    {
        InferencePrecision.BFloat16 => "bf16",
        InferencePrecision.Float16 => "fp16",
        _ => "fp32",
    };

    public static InferencePrecision Parse(string name) => name.ToLowerInvariant() switch
    {
        "fp32" => InferencePrecision.Float32,
        "bf16" => InferencePrecision.BFloat16,
        "fp16" => InferencePrecision.Float16,
        _ => throw new ArgumentException($"precision '{name}' is not one of fp32, bf16, fp16"),
    };

    public static ScalarType ScalarType(this InferencePrecision precision) => precision switch
    {
        InferencePrecision.BFloat16 => torch.ScalarType.BFloat16,
        InferencePrecision.Float16 => torch.ScalarType.Float16,
        _ => torch.ScalarType.Float32,
    };

    /// <summary>
    /// Whether the device computes this format in hardware, so that it is faster rather than
    /// emulated: on the CPU bf16 needs AVX-512 BF16 or AMX (oneDNN's bf16 convolutions use them;
    /// without them libtorch converts back and forth and is slower than fp32); fp16 on the CPU is
    /// never faster. On CUDA both are native on every GPU this product targets.
    /// </summary>
    public static bool IsFastOn(this InferencePrecision precision, Device device) => precision switch
    {
        InferencePrecision.Float32 => true,
        _ when device.type == DeviceType.CUDA => true,
        InferencePrecision.BFloat16 => CpuHasBFloat16(),
        _ => false,
    };

    /// <summary>The low-precision format fast mode uses on this device, or fp32 when it has none in hardware.</summary>
    public static InferencePrecision FastestOn(Device device) =>
        InferencePrecision.BFloat16.IsFastOn(device) ? InferencePrecision.BFloat16 : InferencePrecision.Float32;

    private static readonly Lazy<bool> CpuBFloat16 = new(() =>
    {
        try
        {
            return File.ReadLines("/proc/cpuinfo").Where(l => l.StartsWith("flags", StringComparison.Ordinal))
                .Take(1).Any(l => l.Split(' ').Any(f => f is "avx512_bf16" or "amx_bf16"));
        }
        catch (IOException)
        {
            return false;
        }
    });

    private static bool CpuHasBFloat16() => CpuBFloat16.Value;
}
