using GuidedNet.Runtime;
using static TorchSharp.torch;

namespace GuidedNet.Tests;

/// <summary>Tests that read the process's resident memory: they run alone, so no other test's allocations land in between.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessMemoryCollection
{
    public const string Name = "process memory";
}

[Collection(ProcessMemoryCollection.Name)]
public class NativeAllocatorTests
{
    private static long ResidentBytes() =>
        long.Parse(File.ReadLines("/proc/self/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;

    /// <summary>
    /// A worker's memory grew with the jobs it served: the blocks a job freed stayed with the
    /// allocator (as <see cref="NativeAllocator.KeepLargeBlocksOnHeap"/> asks, for speed) in the arena
    /// of whichever thread ran it. Released between jobs, they go back to the system.
    /// </summary>
    [Fact]
    public void Memory_a_finished_job_freed_on_its_own_thread_goes_back_to_the_system_when_released()
    {
        NativeAllocator.KeepLargeBlocksOnHeap(); // as every process of the product runs
        NativeAllocator.ReleaseFreeMemory();
        long before = ResidentBytes();
        // The job: 512 MB of tensors alive at once on a thread of its own (a window's activations), then freed.
        var job = new Thread(() =>
        {
            using var scope = NewDisposeScope();
            for (int i = 0; i < 32; i++) ones(4L << 20).Dispose(); // touched, then freed: reused by the next
            var alive = Enumerable.Range(0, 32).Select(_ => ones(4L << 20)).ToList();
        });
        job.Start();
        job.Join();
        long kept = ResidentBytes() - before;
        NativeAllocator.ReleaseFreeMemory();
        long released = before + kept - ResidentBytes();
        if (NativeAllocator.Active == NativeAllocator.Glibc)
            Assert.True(kept > 400L << 20, $"the premise: glibc kept the freed job's blocks ({kept >> 20} MB)");
        Assert.True(released >= kept - (64L << 20), $"{released >> 20} MB of the {kept >> 20} MB the finished job left went back to the system");
    }
}
