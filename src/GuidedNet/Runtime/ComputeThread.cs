using System.Collections.Concurrent;

namespace GuidedNet.Runtime;

/// <summary>
/// Runs a long-lived async process's heavy computation on the thread that pumps it — the process's
/// main thread, in the worker. glibc serves the main thread from its main arena, which keeps a
/// window's large activation blocks for the next window (<see cref="NativeAllocator.KeepLargeBlocksOnHeap"/>);
/// every other thread gets an arena whose heaps cannot hold a block above 64 MB, so glibc maps and
/// unmaps each one anew and every window faults its activations in again. Measured with the
/// authors' network on a 512×512×300 CT, one thread: 2.7 s per window on the main thread, 12.6 s
/// on a thread-pool thread (half of it kernel time). Under tcmalloc (the worker's image preloads
/// it) both are 2.4 s; the pump costs nothing there.
/// </summary>
public sealed class ComputeThread
{
    private readonly BlockingCollection<Action> _work = new();

    /// <summary>Runs <paramref name="work"/> on the pumping thread; the task ends with its result or its exception.</summary>
    public Task<T> RunAsync<T>(Func<T> work)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        _work.Add(() =>
        {
            try
            {
                done.SetResult(work());
            }
            catch (Exception e)
            {
                done.SetException(e);
            }
        });
        return done.Task;
    }

    /// <summary>Runs posted work on this thread until <paramref name="main"/> ends; returns its result.</summary>
    public T Pump<T>(Task<T> main)
    {
        main.ContinueWith(_ => _work.CompleteAdding(), TaskScheduler.Default);
        foreach (var work in _work.GetConsumingEnumerable()) work();
        return main.GetAwaiter().GetResult();
    }
}
