using static TorchSharp.torch;

namespace GuidedNet.Runtime;

/// <summary>Where and how tensors are computed; bound from the command line or configuration.</summary>
public sealed class ComputeOptions
{
    /// <summary><c>auto</c> (CUDA when available, else CPU), <c>cpu</c> or <c>cuda</c> (optionally <c>cuda:N</c>).</summary>
    public string Device { get; set; } = "auto";

    /// <summary>Intra-op CPU threads; 0 means one per core.</summary>
    public int Threads { get; set; }

    /// <summary>
    /// Let CUDA convolutions and matrix products use TF32 (faster on recent GPUs, ~1e-3 relative
    /// error). Off by default so that results match fp32 CPU runs and the reference.
    /// </summary>
    public bool AllowTf32 { get; set; }

    /// <summary>
    /// Let CPU convolutions use libtorch's oneDNN kernels (the default: a CPU training step is ~25×
    /// faster than with ATen's own). Turn off where oneDNN's results cannot be trusted: on the
    /// virtual machines this project's CI runs on its convolution backward returns wrong values
    /// when another thread maps or unmaps memory during the call (see <see cref="Runtime.OneDnn"/>).
    /// </summary>
    public bool UseOneDnn { get; set; } = true;

    public void Validate()
    {
        string d = Device.ToLowerInvariant();
        if (d is not ("auto" or "cpu" or "cuda") && !d.StartsWith("cuda:", StringComparison.Ordinal))
            throw new ArgumentException($"device '{Device}' is not one of auto, cpu, cuda, cuda:N");
        if (Threads < 0) throw new ArgumentException($"threads must be 0 (all cores) or positive, got {Threads}");
    }
}

/// <summary>Applies <see cref="ComputeOptions"/> to libtorch and resolves the device.</summary>
public static class TorchRuntime
{
    public static Device Configure(ComputeOptions options)
    {
        options.Validate();
        NativeAllocator.KeepLargeBlocksOnHeap();
        int threads = options.Threads > 0 ? options.Threads : Environment.ProcessorCount;
        set_num_threads(threads);
        if (OperatingSystem.IsLinux()) OneDnn.Enabled = options.UseOneDnn;
        var device = ResolveDevice(options.Device);
        if (device.type == TorchSharp.DeviceType.CUDA)
        {
            backends.cudnn.allow_tf32 = options.AllowTf32;
            backends.cuda.matmul.allow_tf32 = options.AllowTf32;
        }
        return device;
    }

    public static Device ResolveDevice(string name)
    {
        string d = name.ToLowerInvariant();
        if (d == "auto") return cuda.is_available() ? CUDA : CPU;
        if (d == "cpu") return CPU;
        if (!cuda.is_available())
            throw new InvalidOperationException(
                $"device '{name}' was requested but CUDA is not available: this build carries the CPU libtorch (build with -p:TorchBackend=cuda, " +
                "or -p:TorchBackend=none with a CUDA libtorch on LD_LIBRARY_PATH: README, 'A local GPU'), or no GPU is visible; use --device cpu or auto");
        return new Device(d);
    }

    public static string Describe(Device device) =>
        device.type == TorchSharp.DeviceType.CUDA
            ? $"cuda:{Math.Max(0, device.index)} ({cuda.device_count()} visible, tf32 {(backends.cudnn.allow_tf32 ? "on" : "off")})"
            : $"cpu ({get_num_threads()} threads)";
}
