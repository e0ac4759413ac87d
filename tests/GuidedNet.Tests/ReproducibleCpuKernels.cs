using System.Runtime.CompilerServices;
using GuidedNet.Runtime;

// TorchSharp lets a garbage collection on another thread finalize a Scalar that libtorch is still
// reading (see GuidedNet.Runtime.Scalars); its own operators and optimizers make such Scalars. Tests
// running side by side allocate heavily and collect all the time, so this assembly's tests run one
// at a time, as a training process runs: one thread computing, one preparing batches.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace GuidedNet.Tests;

/// <summary>
/// These tests compare runs bit for bit (a resumed run against an uninterrupted one, a recomputed
/// block against the plain one) and train tiny networks for a few steps. On the CI machines
/// oneDNN's convolution backward is not reproducible (docs/performance.md, "Numerical faults"), so
/// the whole assembly computes with ATen's kernels, as <c>--no-onednn</c> does; the commands these
/// tests run in process are given that flag so that they do not switch oneDNN back on.
/// </summary>
internal static class ReproducibleCpuKernels
{
    public const string Flag = "--no-onednn";

    [ModuleInitializer]
    internal static void TurnOffOneDnn() => OneDnn.Enabled = false;
}
