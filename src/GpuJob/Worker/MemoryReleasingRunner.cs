using GuidedNet.Pipeline.Jobs.Worker;
using GuidedNet.Runtime;

namespace GuidedNet.GpuJob.Worker;

/// <summary>A runner that gives the memory its job freed back to the system when the job ends (<see cref="NativeAllocator.ReleaseFreeMemory"/>), so a long-lived worker's footprint does not grow with the jobs it has served.</summary>
public sealed class MemoryReleasingRunner(IJobRunner inner) : IJobRunner
{
    public async Task<bool> RunAsync(JobAttempt attempt, CancellationToken cancellation)
    {
        try
        {
            return await inner.RunAsync(attempt, cancellation);
        }
        finally
        {
            NativeAllocator.ReleaseFreeMemory();
        }
    }
}
