using System.Collections.Concurrent;

namespace GuidedNet.Data;

/// <summary>
/// Builds the batches of upcoming iterations on a background thread so the training loop never
/// waits on sampling and augmentation (bounded: a few batches ahead).
/// </summary>
public sealed class BatchPrefetcher : IDisposable
{
    private readonly BlockingCollection<TrainingBatch> _queue;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _producer;

    public BatchPrefetcher(PatchSampler sampler, int firstIteration, int endIteration, int depth = 3)
    {
        _queue = new BlockingCollection<TrainingBatch>(depth);
        _producer = Task.Run(() =>
        {
            try
            {
                for (int i = firstIteration; i < endIteration && !_stop.IsCancellationRequested; i++)
                    _queue.Add(sampler.Sample(i), _stop.Token);
            }
            catch (OperationCanceledException)
            {
            }
            finally
            {
                _queue.CompleteAdding();
            }
        });
    }

    /// <summary>Time the consumer spent waiting for batches (should stay near zero).</summary>
    public TimeSpan Waited { get; private set; }

    public TrainingBatch Next()
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var batch = _queue.Take();
        Waited += clock.Elapsed;
        return batch;
    }

    public void Dispose()
    {
        _stop.Cancel();
        try { _producer.Wait(); } catch (AggregateException) { }
        _queue.Dispose();
        _stop.Dispose();
    }
}
