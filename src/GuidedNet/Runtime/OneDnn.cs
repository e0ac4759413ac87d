using System.Runtime.InteropServices;

namespace GuidedNet.Runtime;

/// <summary>
/// Turns libtorch's oneDNN (MKL-DNN) CPU kernels on or off. TorchSharp does not expose
/// <c>torch.backends.mkldnn.enabled</c>, so this calls the two exported members of
/// <c>at::Context</c> that Python's switch calls (<c>at::globalContext()</c>,
/// <c>at::Context::setUserEnabledMkldnn(bool)</c>) through their Itanium-ABI names.
/// Why it exists: on the CI machines of this project (2-core AMD EPYC guests under a
/// page-table-based hypervisor) oneDNN's convolution backward returns NaN or different finite
/// values whenever another thread of the process maps or unmaps memory during the call — a .NET
/// garbage collection, a finalizer freeing a tensor, the batch prefetcher. ATen's own convolution
/// gives identical results under the same load. docs/performance.md, "Numerical faults", has
/// the measurements.
/// </summary>
public static class OneDnn
{
    private const string LibTorchCpu = "libtorch_cpu.so";
    private const string GlobalContext = "_ZN2at13globalContextEv";
    private const string SetUserEnabled = "_ZN2at7Context20setUserEnabledMkldnnEb";
    private const string UserEnabled = "_ZNK2at7Context17userEnabledMkldnnEv";

    /// <summary>Whether libtorch will use oneDNN kernels for CPU operations that have them.</summary>
    public static unsafe bool Enabled
    {
        get
        {
            var context = Context.Value;
            return ((delegate* unmanaged<IntPtr, byte>)context.UserEnabled)(context.Instance) != 0;
        }
        set
        {
            var context = Context.Value;
            ((delegate* unmanaged<IntPtr, byte, void>)context.SetUserEnabled)(context.Instance, value ? (byte)1 : (byte)0);
            if (Enabled != value)
                throw new InvalidOperationException($"libtorch did not take the oneDNN setting {value}");
        }
    }

    /// <summary>at::globalContext() and the two members, resolved once.</summary>
    private static readonly Lazy<(IntPtr Instance, IntPtr UserEnabled, IntPtr SetUserEnabled)> Context = new(Resolve);

    private static unsafe (IntPtr, IntPtr, IntPtr) Resolve()
    {
        if (!OperatingSystem.IsLinux())
            throw new PlatformNotSupportedException("switching oneDNN is implemented for the Linux libtorch only");
        // Any torch call makes TorchSharp load libtorch first; the name then resolves to that copy.
        _ = TorchSharp.torch.get_num_threads();
        if (!NativeLibrary.TryLoad(LibTorchCpu, out var library)
            && !NativeLibrary.TryLoad(Path.Combine(AppContext.BaseDirectory, LibTorchCpu), out library))
            throw new DllNotFoundException($"{LibTorchCpu} is not loaded in this process nor found beside {AppContext.BaseDirectory}");
        var instance = ((delegate* unmanaged<IntPtr>)NativeLibrary.GetExport(library, GlobalContext))();
        return (instance, NativeLibrary.GetExport(library, UserEnabled), NativeLibrary.GetExport(library, SetUserEnabled));
    }
}
