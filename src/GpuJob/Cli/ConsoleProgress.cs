using GuidedNet.Inference;

namespace GuidedNet.GpuJob.Cli;

/// <summary>Throttled progress lines for sliding-window prediction: windows, throughput and ETA.</summary>
public sealed class ConsoleProgress(TextWriter output, string label) : IProgress<SlidingWindowProgress>
{
    private DateTime _last = DateTime.MinValue;

    public void Report(SlidingWindowProgress p)
    {
        bool finished = p.WindowsDone == p.WindowsTotal;
        if (!finished && DateTime.UtcNow - _last < TimeSpan.FromSeconds(2)) return;
        _last = DateTime.UtcNow;
        output.WriteLine($"  {label}: windows {p.WindowsDone}/{p.WindowsTotal}, {p.VoxelsPerSecond / 1e6:F3} Mvox/s, " +
                         $"elapsed {p.Elapsed:mm\\:ss}, ETA {p.Remaining:mm\\:ss}");
    }
}
