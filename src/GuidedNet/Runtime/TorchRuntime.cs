using static TorchSharp.torch;

namespace GuidedNet.Runtime;

/// <summary>Where and how tensors are computed; bound from the command line or configuration.</summary>
public sealed class ComputeOptions
{
    /// <summary><c>auto</c> (CUDA when available, else CPU), <c>cpu</c> or <c>cuda</c> (optionally <c>cuda:N</c>).</summary>
    public string Device { get; set; } = "auto";

    /// <summary>Intra-op CPU threads; 0 means one per core.</summary>
    public int Threads { get; set; }

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
        int threads = options.Threads > 0 ? options.Threads : Environment.ProcessorCount;
        set_num_threads(threads);
        return ResolveDevice(options.Device);
    }

    public static Device ResolveDevice(string name)
    {
        string d = name.ToLowerInvariant();
        if (d == "auto") return cuda.is_available() ? CUDA : CPU;
        if (d == "cpu") return CPU;
        if (!cuda.is_available())
            throw new InvalidOperationException(
                $"device '{name}' was requested but CUDA is not available (this build carries the CPU libtorch, or no GPU is visible); use --device cpu or auto");
        return new Device(d);
    }

    public static string Describe(Device device) =>
        device.type == TorchSharp.DeviceType.CUDA ? $"cuda:{device.index} ({cuda.device_count()} visible)" : $"cpu ({get_num_threads()} threads)";
}
