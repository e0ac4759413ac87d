using System.Runtime.InteropServices;

namespace GuidedNet.Runtime;

/// <summary>
/// libtorch's CPU tensors come straight from glibc malloc, which serves blocks above its mmap
/// threshold (adaptive, at most 32 MB) with fresh mmaps and unmaps them on free. A training step
/// allocates and frees gigabytes of such blocks, so every step faulted all of them in again:
/// measured here, ~40% of a CPU training step went to kernel page-fault time. Keeping large blocks
/// on the heap, and not trimming it, lets the next step reuse them (step 6.25 s → 4.5 s, same peak RSS).
/// </summary>
public static class NativeAllocator
{
    private const int MTrimThreshold = -1;
    private const int MMmapThreshold = -3;
    private static int _tuned;

    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int Mallopt(int parameter, int value);

    [DllImport("libc", EntryPoint = "malloc_trim")]
    private static extern int MallocTrim(nuint pad);

    /// <summary>
    /// tcmalloc libraries to preload, in order of preference (Debian/Ubuntu libtcmalloc-minimal4,
    /// then libgoogle-perftools4, then RPM layouts).
    /// </summary>
    private static readonly string[] TcmallocCandidates =
    {
        "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4", "/usr/lib/x86_64-linux-gnu/libtcmalloc.so.4",
        "/usr/lib64/libtcmalloc_minimal.so.4", "/usr/lib64/libtcmalloc.so.4",
    };

    /// <summary>The installed tcmalloc, to be preloaded (LD_PRELOAD) into a training process; null when none.</summary>
    public static string? FindTcmalloc() => OperatingSystem.IsLinux() ? TcmallocCandidates.FirstOrDefault(File.Exists) : null;

    public const string Glibc = "glibc", Tcmalloc = "tcmalloc", Jemalloc = "jemalloc";

    /// <summary>
    /// The allocator this process runs on: <see cref="Tcmalloc"/> or <see cref="Jemalloc"/> when
    /// preloaded, else <see cref="Glibc"/> (or "system" off Linux); fixed at process start, so read once.
    /// A CPU training step frees and reallocates gigabytes of activations; under glibc the heap
    /// fragments (peak RSS ~1.6× the live bytes at the benchmark's batch, growing step by step), while
    /// tcmalloc reuses freed spans without returning them and stays within ~0.5 GB of the live peak —
    /// and is no slower, having no page faults to serve.
    /// </summary>
    public static string Active => ActiveAllocator.Value;

    private static readonly Lazy<string> ActiveAllocator = new(() =>
    {
        if (!OperatingSystem.IsLinux()) return "system";
        try
        {
            string maps = File.ReadAllText("/proc/self/maps");
            if (maps.Contains("libtcmalloc", StringComparison.Ordinal)) return Tcmalloc;
            if (maps.Contains("libjemalloc", StringComparison.Ordinal)) return Jemalloc;
        }
        catch (IOException) { }
        return Glibc;
    });

    /// <summary>
    /// Gives the allocator's free memory back to the system (glibc: every arena's, tcmalloc: its
    /// page heap's), after collecting what finalizers still hold. Both keep freed blocks for reuse,
    /// which one computation wants, but the blocks a case's windows freed then sit beside whatever
    /// comes next — restoring the mask to a CT's grid added ~1 GB on top of them — and a worker
    /// running job after job on whichever thread-pool thread its continuation lands could fill
    /// another glibc arena with each job (its memory grew with the jobs it served). Called after a
    /// case's windows and between jobs.
    /// </summary>
    public static void ReleaseFreeMemory()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        if (!OperatingSystem.IsLinux()) return;
        try
        {
            if (Active == Glibc) MallocTrim(0);
            else TcmallocRelease.Value?.Invoke();
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
        }
    }

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate void ReleaseFunction();

    /// <summary>gperftools' C entry point, from the tcmalloc library mapped into this process (whichever of its builds was preloaded).</summary>
    private static readonly Lazy<ReleaseFunction?> TcmallocRelease = new(() =>
    {
        if (Active != Tcmalloc) return null;
        string? library = File.ReadLines("/proc/self/maps").Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries).LastOrDefault())
            .FirstOrDefault(p => p is not null && p.Contains("libtcmalloc", StringComparison.Ordinal));
        return library is not null && NativeLibrary.TryLoad(library, out var handle) && NativeLibrary.TryGetExport(handle, "MallocExtension_ReleaseFreeMemory", out var entry)
            ? Marshal.GetDelegateForFunctionPointer<ReleaseFunction>(entry)
            : null;
    });

    public static void KeepLargeBlocksOnHeap()
    {
        if (!OperatingSystem.IsLinux() || Active != Glibc || Interlocked.Exchange(ref _tuned, 1) == 1) return;
        try
        {
            Mallopt(MMmapThreshold, 512 << 20);
            Mallopt(MTrimThreshold, int.MaxValue);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // Not glibc (musl, say): its allocator behaves differently; nothing to tune.
        }
    }
}
