using GuidedNet.Runtime;

namespace GuidedNet.Tests;

public class CollectionFreeSectionTests
{
    /// <summary>Another thread's allocations start no collection inside a section, and do outside one.</summary>
    [Fact]
    public void Another_threads_allocations_collect_nothing_while_a_section_is_open()
    {
        static int CollectionsWhileAnotherThreadAllocates(long bytes)
        {
            int before = GC.CollectionCount(0);
            var thread = new Thread(() =>
            {
                for (long done = 0; done < bytes; done += 4096) GC.KeepAlive(new byte[4096]);
            });
            thread.Start();
            thread.Join();
            return GC.CollectionCount(0) - before;
        }

        const long allocated = 200L << 20;
        var mode = System.Runtime.GCSettings.LatencyMode;
        Assert.True(CollectionsWhileAnotherThreadAllocates(allocated) > 0);
        using (CollectionFreeSection.Enter(allocated + (64L << 20)))
        using (CollectionFreeSection.Enter()) // a nested or overlapping section joins the open region
            Assert.Equal(0, CollectionsWhileAnotherThreadAllocates(allocated));
        Assert.Equal(mode, System.Runtime.GCSettings.LatencyMode);
        long interrupted = CollectionFreeSection.Interrupted;
        using (CollectionFreeSection.Enter(16L << 20))
            CollectionsWhileAnotherThreadAllocates(allocated);
        Assert.Equal(interrupted + 1, CollectionFreeSection.Interrupted);
    }
}
