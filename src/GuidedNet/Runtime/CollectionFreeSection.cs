using System.Runtime;

namespace GuidedNet.Runtime;

/// <summary>
/// Holds off .NET garbage collections while libtorch computes. TorchSharp hands libtorch Scalars
/// that nothing references during the call (its operators, <c>add(Tensor)</c>, its optimizers; see
/// <see cref="Scalars"/>), and a collection triggered by another thread — the batch prefetcher, a
/// worker's heartbeat — can finalize one mid-call, so that libtorch reads a freed value. Inside a
/// section the process runs in a no-GC region of the given budget: no collection happens until the
/// process (every thread) has allocated that much, and the section ends the region. With regions
/// (.NET 7+) starting and ending one costs microseconds. Sections may overlap across threads; the
/// region lasts from the first entry to the last exit. A region that an allocation beyond the
/// budget ended early is counted in <see cref="Interrupted"/>.
/// </summary>
public readonly struct CollectionFreeSection : IDisposable
{
    /// <summary>Enough for a training step's batch copies at the paper's setting and its bookkeeping.</summary>
    public const long DefaultBudgetBytes = 512L << 20;

    private static readonly object Gate = new();
    private static int _open;
    private static bool _started;
    private static long _interrupted;

    private readonly bool _entered;

    private CollectionFreeSection(bool entered) => _entered = entered;

    /// <summary>Sections whose region a collection ended before the section did.</summary>
    public static long Interrupted => Interlocked.Read(ref _interrupted);

    public static CollectionFreeSection Enter(long budgetBytes = DefaultBudgetBytes)
    {
        lock (Gate)
        {
            if (_open++ == 0 && GCSettings.LatencyMode != GCLatencyMode.NoGCRegion)
            {
                try
                {
                    _started = GC.TryStartNoGCRegion(budgetBytes);
                }
                catch (ArgumentOutOfRangeException)
                {
                    // A budget the runtime cannot reserve: compute without the region rather than not at all.
                }
            }
            return new CollectionFreeSection(entered: true);
        }
    }

    public void Dispose()
    {
        if (!_entered) return;
        lock (Gate)
        {
            if (--_open > 0 || !_started) return;
            _started = false;
            try
            {
                GC.EndNoGCRegion();
            }
            catch (InvalidOperationException)
            {
                // The process allocated more than the budget (or something induced a collection).
                Interlocked.Increment(ref _interrupted);
            }
        }
    }
}
